output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 range of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets, in the order of var.zones (NAT gateways, bastion, API load balancer)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets, in the order of var.zones (control plane and node pools)."
  value       = aws_subnet.private[*].id
}

output "nat_public_ips" {
  description = "Public addresses of the NAT gateways: the cluster's egress addresses."
  value       = aws_eip.nat[*].public_ip
}

output "bastion_security_group_id" {
  description = "Security group of the SSH bastion."
  value       = aws_security_group.bastion.id
}

output "api_lb_security_group_id" {
  description = "Security group of the Kubernetes API load balancer."
  value       = aws_security_group.api_lb.id
}

output "control_plane_security_group_id" {
  description = "Security group of the control-plane machines."
  value       = aws_security_group.control_plane.id
}

output "nodes_security_group_id" {
  description = "Security group of the worker nodes."
  value       = aws_security_group.nodes.id
}

output "efa_security_group_id" {
  description = "Security group of EFA interfaces; null unless create_efa_security_group."
  value       = try(aws_security_group.efa[0].id, null)
}

output "flow_log_group_name" {
  description = "CloudWatch Logs group of the VPC flow logs; null when they are disabled."
  value       = try(aws_cloudwatch_log_group.flow_logs[0].name, null)
}
