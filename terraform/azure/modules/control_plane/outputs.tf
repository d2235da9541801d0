output "api_address" {
  description = "Public address of the API load balancer."
  value       = try(azurerm_public_ip.this.ip_address, null)
}

output "hosts" {
  description = "Control-plane machines: name, private address and zone, ordered by name."
  value = [
    for name in sort(keys(azurerm_linux_virtual_machine.this)) : {
      name    = name
      address = azurerm_network_interface.this[name].private_ip_address
      zone    = azurerm_linux_virtual_machine.this[name].zone
    }
  ]
}
