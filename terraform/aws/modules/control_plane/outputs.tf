output "instances" {
  description = "Control-plane machines in index order: instance id, private address, zone."
  value = [
    for instance in aws_instance.this : {
      id                = instance.id
      private_ip        = instance.private_ip
      availability_zone = instance.availability_zone
    }
  ]
}

output "lb_dns_name" {
  description = "DNS name of the API load balancer."
  value       = aws_lb.this.dns_name
}

output "api_endpoint" {
  description = "URL of the Kubernetes API through the load balancer."
  value       = "https://${aws_lb.this.dns_name}:6443"
}

output "lb_arn" {
  description = "ARN of the API load balancer."
  value       = aws_lb.this.arn
}
