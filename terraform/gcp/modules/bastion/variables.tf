################################################################################
# Bastion
################################################################################

variable "name" {
  description = "Name of the cluster; the bastion is <name>-bastion."
  type        = string
}

variable "project_id" {
  description = "Project that holds the bastion."
  type        = string
}

variable "zone" {
  description = "Zone of the bastion."
  type        = string
}

variable "machine_type" {
  description = "Machine type of the bastion."
  type        = string
  default     = "e2-small"
}

variable "image" {
  description = "Boot image (self link or family path) of the bastion."
  type        = string
}

variable "subnetwork" {
  description = "Self link of the subnet the bastion sits in."
  type        = string
}

variable "network_tag" {
  description = "Network tag the firewall rules admit SSH to."
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

variable "disk_kms_key" {
  description = "Cloud KMS key self link that encrypts the boot disk; null: Google-managed encryption."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource of the module that takes labels."
  type        = map(string)
  default     = {}
}
