output "public_address" {
  description = "Public address of the bastion (the SSH jump host)."
  value       = try(google_compute_address.this.address, null)
}

output "private_address" {
  description = "Private address of the bastion."
  value       = try(google_compute_instance.this.network_interface[0].network_ip, null)
}
