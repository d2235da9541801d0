output "public_ip" {
  description = "Public address of the bastion; null when it is not created."
  value       = try(aws_eip.this[0].public_ip, null)
}

output "instance_id" {
  description = "Instance id of the bastion; null when it is not created."
  value       = try(aws_instance.this[0].id, null)
}
