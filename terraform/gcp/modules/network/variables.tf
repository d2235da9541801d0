################################################################################
# Network
################################################################################

variable "name" {
  description = "Name of the cluster; prefixes every resource of the module."
  type        = string
}

variable "project_id" {
  description = "Project that holds the network."
  type        = string
}

variable "region" {
  description = "Region of the subnets, the router and Cloud NAT."
  type        = string
}

variable "network_cidr" {
  description = "Address range of the cluster; the node subnet takes its lower half, the control-plane subnet a /4 slice of the upper half."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.network_cidr)) && tonumber(split("/", var.network_cidr)[1]) <= 24
    error_message = "network_cidr must be an IPv4 CIDR block of /24 or larger, e.g. 10.40.0.0/16."
  }
}

variable "admin_cidrs" {
  description = "Source ranges allowed to reach the bastion's SSH port and the API server load balancer."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for cidr in var.admin_cidrs : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "admin_cidrs must hold at least one IPv4 CIDR block and never 0.0.0.0/0."
  }
}

variable "cni_ports" {
  description = "Ports the pod network (CNI) uses between cluster members; opened among control-plane and node machines only."
  type = object({
    tcp = list(string)
    udp = list(string)
  })
}

variable "nat_ip_count" {
  description = "Static external addresses of Cloud NAT; the API firewall rule admits them so that nodes reach the API load balancer."
  type        = number
  default     = 1

  validation {
    condition     = var.nat_ip_count >= 1 && var.nat_ip_count <= 16
    error_message = "nat_ip_count must be between 1 and 16."
  }
}

variable "labels" {
  description = "Labels put on every resource of the module that takes labels."
  type        = map(string)
  default     = {}
}
