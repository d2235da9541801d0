################################################################################
# Bastion
################################################################################

variable "name" {
  description = "Name of the cluster; the bastion is <name>-bastion."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group of the bastion."
  type        = string
}

variable "location" {
  description = "Azure location of the bastion."
  type        = string
}

variable "zone" {
  description = "Availability zone of the bastion."
  type        = string
}

variable "size" {
  description = "VM size of the bastion."
  type        = string
  default     = "Standard_B2s"
}

variable "subnet_id" {
  description = "ID of the bastion subnet."
  type        = string
}

variable "image_id" {
  description = "ID of the bastion's image; null: image_reference."
  type        = string
  default     = null
}

variable "image_reference" {
  description = "Marketplace image of the bastion (publisher, offer, sku, version), used when image_id is null."
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

variable "disk_encryption_set_id" {
  description = "Disk encryption set (customer-managed key) of the OS disk; null: platform-managed keys."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags put on every resource of the module that takes tags."
  type        = map(string)
  default     = {}
}
