output "api_address" {
  description = "External address of the API load balancer."
  value       = try(google_compute_address.this.address, null)
}

output "hosts" {
  description = "Control-plane machines: name, private address and zone, ordered by name."
  value = [
    for name in sort(keys(google_compute_instance.this)) : {
      name    = name
      address = google_compute_instance.this[name].network_interface[0].network_ip
      zone    = google_compute_instance.this[name].zone
    }
  ]
}
