output "public_address" {
  description = "Public address of the bastion (the SSH jump host)."
  value       = try(azurerm_public_ip.this.ip_address, null)
}

output "private_address" {
  description = "Private address of the bastion."
  value       = try(azurerm_network_interface.this.private_ip_address, null)
}
