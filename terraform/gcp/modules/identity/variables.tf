################################################################################
# Identity
################################################################################

variable "name" {
  description = "Name of the cluster; prefixes service accounts, roles and the join secret."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must be a lowercase DNS label of at most 40 characters."
  }
}

variable "project_id" {
  description = "Project that holds the service accounts, the roles and the secret."
  type        = string
}

variable "region" {
  description = "Region of the node groups (the autoscaler's permissions are limited to it) and of the secret's replica."
  type        = string
}

variable "secret_kms_key" {
  description = "Cloud KMS key (projects/.../cryptoKeys/...) that encrypts the join secret's replica; null: Google-managed encryption."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource of the module that takes labels."
  type        = map(string)
  default     = {}
}
