################################################################################
# Control plane
################################################################################

variable "name" {
  description = "Name of the cluster; control-plane machines are <name>-cp-<index>."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the control plane."
  type        = string
}

variable "location" {
  description = "Azure location of the control plane."
  type        = string
}

variable "zones" {
  description = "Availability zones the control-plane machines are spread over, in turn."
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

variable "size" {
  description = "VM size of the control-plane machines."
  type        = string
}

variable "disk_size_gb" {
  description = "OS disk size of each control-plane machine, in GB."
  type        = number

  validation {
    condition     = var.disk_size_gb >= 30
    error_message = "disk_size_gb must be at least 30."
  }
}

variable "subnet_id" {
  description = "ID of the control-plane subnet."
  type        = string
}

variable "identity_id" {
  description = "ID of the control plane's user-assigned identity."
  type        = string
}

variable "image_id" {
  description = "ID of the machines' image; null: image_reference."
  type        = string
  default     = null
}

variable "image_reference" {
  description = "Marketplace image (publisher, offer, sku, version), used when image_id is null."
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = null
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
  description = "Trusted launch Secure Boot on the control-plane machines."
  type        = bool
  default     = true
}

variable "disk_encryption_set_id" {
  description = "Disk encryption set (customer-managed key) of the OS disks; null: platform-managed keys."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags put on every resource of the module that takes tags."
  type        = map(string)
  default     = {}
}
