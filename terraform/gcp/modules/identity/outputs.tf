output "control_plane_service_account" {
  description = "Email of the control plane's service account."
  value       = try(google_service_account.control_plane.email, null)
}

output "node_service_account" {
  description = "Email of the nodes' service account."
  value       = try(google_service_account.node.email, null)
}

output "join_secret_id" {
  description = "Secret Manager id of the join material (the container; the configure stage writes its versions)."
  value       = try(google_secret_manager_secret.join.secret_id, null)
}

output "join_secret_name" {
  description = "Full resource name of the join secret (projects/<number>/secrets/<id>)."
  value       = try(google_secret_manager_secret.join.name, null)
}

output "autoscaler_roles" {
  description = "Custom roles granted to the control plane's service account for the cluster autoscaler."
  value       = [try(google_project_iam_custom_role.autoscaler_read.name, null), try(google_project_iam_custom_role.autoscaler_write.name, null)]
}
