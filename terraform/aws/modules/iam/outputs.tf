output "node_instance_profile_arn" {
  description = "Instance profile of the worker nodes."
  value       = aws_iam_instance_profile.node.arn
}

output "node_role_name" {
  description = "Role of the worker nodes."
  value       = aws_iam_role.node.name
}

output "control_plane_instance_profile_name" {
  description = "Instance profile of the control-plane machines."
  value       = aws_iam_instance_profile.control_plane.name
}

output "control_plane_role_name" {
  description = "Role of the control-plane machines."
  value       = aws_iam_role.control_plane.name
}

output "cluster_autoscaler_policy_arn" {
  description = "Cluster-autoscaler policy; null when enable_cluster_autoscaler is false."
  value       = try(aws_iam_policy.cluster_autoscaler[0].arn, null)
}

output "join_parameter_arn" {
  description = "ARN of the join-material parameter that the roles may read (nodes) and write (control plane)."
  value       = local.join_parameter_arn
}
