output "autoscaling_group_name" {
  description = "Name of the pool's autoscaling group; null when create is false."
  value       = try(aws_autoscaling_group.this[0].name, null)
}

output "launch_template_id" {
  description = "Id of the pool's launch template; null when create is false."
  value       = try(aws_launch_template.this[0].id, null)
}

output "placement_group_name" {
  description = "Cluster placement group of an EFA pool without a reservation; null otherwise."
  value       = try(aws_placement_group.this[0].name, null)
}

output "efa_interfaces" {
  description = "EFA interfaces of each machine (0 without high_speed_networking)."
  value       = local.efa_count
}

output "autoscaler_tags" {
  description = "Cluster-autoscaler discovery and node-template tags of the group."
  value       = local.autoscaler_tags
}

output "instances" {
  description = "Machines of the group that exist now (pending or running): instance id and private address."
  value = [
    for index, id in try(data.aws_instances.this[0].ids, []) : {
      id         = id
      private_ip = data.aws_instances.this[0].private_ips[index]
    }
  ]
}
