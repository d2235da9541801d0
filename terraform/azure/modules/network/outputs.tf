output "vnet_id" {
  description = "ID of the VNet."
  value       = try(azurerm_virtual_network.this.id, null)
}

output "subnet_ids" {
  description = "IDs of the subnets, by role (nodes, control-plane, bastion)."
  value       = { for name, subnet in azurerm_subnet.this : name => subnet.id }
}

output "nat_address" {
  description = "Public address the NAT gateway sends the machines' outbound traffic from."
  value       = try(azurerm_public_ip.nat.ip_address, null)
}

output "nat_association_ids" {
  description = "IDs of the subnets' NAT gateway associations (machines depend on them for outbound access)."
  value       = [for association in azurerm_subnet_nat_gateway_association.this : association.id]
}
