################################################################################
# Machines
################################################################################

variable "name" {
  description = "Name prefix of every resource (the cluster name)."
  type        = string
}

variable "instance_count" {
  description = "Number of control-plane machines: 1, or 3 for an etcd quorum that survives one loss."
  type        = number

  validation {
    condition     = contains([1, 3], var.instance_count)
    error_message = "instance_count must be 1 or 3."
  }
}

variable "instance_type" {
  description = "Instance type of the control-plane machines."
  type        = string
}

variable "disk_size_gb" {
  description = "Root disk size in GiB (encrypted gp3)."
  type        = number
}

variable "image_id" {
  description = "AMI of the control-plane machines."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets; machine i goes to subnet i modulo their number."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the control-plane machines."
  type        = string
}

variable "instance_profile_name" {
  description = "Instance profile of the control-plane machines."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair installed for the login user."
  type        = string
}

variable "metadata_hop_limit" {
  description = "IMDSv2 response hop limit: 2 lets the cluster autoscaler's pod on the control plane use the instance role."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# API load balancer
################################################################################

variable "lb_subnet_ids" {
  description = "Public subnets of the internet-facing network load balancer for 6443."
  type        = list(string)
}

variable "lb_security_group_id" {
  description = "Security group of the load balancer (6443 from the admin ranges and the NAT addresses)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}
