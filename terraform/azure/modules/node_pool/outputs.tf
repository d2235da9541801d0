output "autoscaling_group" {
  description = "ID of the pool's scale set (what the cluster autoscaler's --nodes flag or tag discovery finds)."
  value       = try(azurerm_linux_virtual_machine_scale_set.this.id, null)
}

output "name" {
  description = "Name of the pool's scale set."
  value       = try(azurerm_linux_virtual_machine_scale_set.this.name, null)
}

output "autoscaler_tags" {
  description = "Tags the cluster autoscaler reads from the scale set: discovery, bounds and the node template of an empty pool."
  value       = local.autoscaler_tags
}

output "nodes" {
  description = "Machines of the pool that exist now: computer name and private address."
  value = [
    for instance in try(data.azurerm_virtual_machine_scale_set.this.instances, []) : {
      name    = instance.computer_name
      address = instance.private_ip_address
    }
  ]
}
