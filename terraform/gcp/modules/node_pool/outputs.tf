output "autoscaling_group" {
  description = "Self link of the pool's managed instance group (what the cluster autoscaler's --nodes flag names)."
  value       = try(google_compute_instance_group_manager.this.self_link, null)
}

output "instance_group" {
  description = "Self link of the instance group the manager maintains."
  value       = try(google_compute_instance_group_manager.this.instance_group, null)
}

output "instance_template" {
  description = "Self link of the pool's current instance template."
  value       = try(google_compute_instance_template.this.self_link_unique, null)
}

output "autoscaler_env" {
  description = "AUTOSCALER_ENV_VARS of the template's kube-env: the node template the cluster autoscaler scales an empty pool from."
  value       = local.autoscaler_env
}

output "nodes" {
  description = "Machines of the pool that exist now: name and internal DNS name (<name>.<zone>.c.<project>.internal), which the bastion resolves."
  value = [
    for url in sort(tolist(try(data.google_compute_instance_group.this.instances, []))) : {
      name    = regex("/instances/([^/]+)$", url)[0]
      address = format("%s.%s.c.%s.internal", regex("/instances/([^/]+)$", url)[0], regex("/zones/([^/]+)/", url)[0], var.project_id)
    }
  ]
}
