################################################################################
# Network
################################################################################

variable "name" {
  description = "Name of the cluster; prefixes every resource of the module."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the network."
  type        = string
}

variable "location" {
  description = "Azure location of the network."
  type        = string
}

variable "network_cidr" {
  description = "Address space of the VNet; the node subnet takes its lower half, the control-plane and bastion subnets /4 slices of the upper half."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.network_cidr)) && tonumber(split("/", var.network_cidr)[1]) <= 22
    error_message = "network_cidr must be an IPv4 CIDR block of /22 or larger, e.g. 10.40.0.0/16."
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
  description = "Ports the pod network (CNI) uses between cluster members; opened inside the VNet only."
  type = object({
    tcp = list(string)
    udp = list(string)
  })
}

variable "flow_logs" {
  description = "VNet flow logs: the region's Network Watcher (Azure creates NetworkWatcher_<location> in NetworkWatcherRG) and the retention in days; null: no flow logs."
  type = object({
    network_watcher_name                = string
    network_watcher_resource_group_name = string
    retention_days                      = optional(number, 90)
  })
}

variable "tags" {
  description = "Tags put on every resource of the module that takes tags."
  type        = map(string)
  default     = {}
}
