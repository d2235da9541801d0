################################################################################
# Control plane
################################################################################

variable "name" {
  description = "Name of the cluster; control-plane machines are <name>-cp-<index>."
  type        = string
}

variable "project_id" {
  description = "Project that holds the control plane."
  type        = string
}

variable "region" {
  description = "Region of the load balancer."
  type        = string
}

variable "zones" {
  description = "Zones the control-plane machines are spread over, in turn."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0
    error_message = "zones must name at least one zone."
  }
}

variable "instance_count" {
  description = "Number of control-plane machines: 1, or 3 for a highly available etcd."
  type        = number

  validation {
    condition     = contains([1, 3], var.instance_count)
    error_message = "instance_count must be 1 or 3."
  }
}

variable "machine_type" {
  description = "Machine type of the control-plane machines."
  type        = string
}

variable "disk_size_gb" {
  description = "Boot disk size of each control-plane machine, in GB."
  type        = number

  validation {
    condition     = var.disk_size_gb >= 30
    error_message = "disk_size_gb must be at least 30."
  }
}

variable "image" {
  description = "Boot image (self link or family path) of the control-plane machines."
  type        = string
}

variable "subnetwork" {
  description = "Self link of the control-plane subnet."
  type        = string
}

variable "network_tag" {
  description = "Network tag the firewall rules know control-plane machines by."
  type        = string
}

variable "service_account" {
  description = "Email of the control plane's service account."
  type        = string
}

variable "ssh_user" {
  description = "Login user of the image."
  type        = string
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ssh_user."
  type        = string
}

variable "secure_boot" {
  description = "Shielded VM Secure Boot on the control-plane machines."
  type        = bool
  default     = true
}

variable "disk_kms_key" {
  description = "Cloud KMS key self link that encrypts the boot disks; null: Google-managed encryption."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource of the module that takes labels."
  type        = map(string)
  default     = {}
}
