output "network_self_link" {
  description = "Self link of the VPC."
  value       = try(google_compute_network.this.self_link, null)
}

output "node_subnet_self_link" {
  description = "Self link of the node subnet."
  value       = try(google_compute_subnetwork.this["nodes"].self_link, null)
}

output "control_plane_subnet_self_link" {
  description = "Self link of the subnet of the control plane and the bastion."
  value       = try(google_compute_subnetwork.this["control-plane"].self_link, null)
}

output "nat_addresses" {
  description = "External addresses Cloud NAT sends the machines' outbound traffic from."
  value       = try(google_compute_address.nat[*].address, [])
}

output "control_plane_tag" {
  description = "Network tag of control-plane machines."
  value       = local.control_plane_tag
}

output "node_tag" {
  description = "Network tag of node machines."
  value       = local.node_tag
}

output "bastion_tag" {
  description = "Network tag of the bastion."
  value       = local.bastion_tag
}
