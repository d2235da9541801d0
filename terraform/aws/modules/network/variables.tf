################################################################################
# Network
################################################################################

variable "name" {
  description = "Name prefix of every resource (the cluster name)."
  type        = string
}

variable "cidr" {
  description = "IPv4 range of the VPC (prefix /16 to /22); each zone gets a private subnet of an eighth of it and a small public subnet."
  type        = string
}

variable "zones" {
  description = "Availability zones, one private and one public subnet each."
  type        = list(string)

  validation {
    condition     = length(var.zones) >= 1 && length(var.zones) <= 6
    error_message = "zones must list one to six availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by every private subnet instead of one per zone."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Security groups
################################################################################

variable "admin_cidrs" {
  description = "IPv4 source ranges allowed to reach the bastion's SSH port and the API load balancer."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && !contains(var.admin_cidrs, "0.0.0.0/0")
    error_message = "admin_cidrs must be non-empty and must not contain 0.0.0.0/0."
  }
}

variable "cni" {
  description = "CNI plugin whose node-to-node ports are opened between cluster members: cilium, calico or flannel."
  type        = string
  default     = "cilium"

  validation {
    condition     = contains(["cilium", "calico", "flannel"], var.cni)
    error_message = "cni must be cilium, calico or flannel."
  }
}

variable "create_efa_security_group" {
  description = "Create the security group that EFA interfaces need (all traffic between its members)."
  type        = bool
  default     = false
}

################################################################################
# Flow logs
################################################################################

variable "enable_flow_logs" {
  description = "Send VPC flow logs to a KMS-encrypted CloudWatch Logs group."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group in days."
  type        = number
  default     = 365
}
