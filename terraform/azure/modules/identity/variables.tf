################################################################################
# Identity
################################################################################

variable "name" {
  description = "Name of the cluster; prefixes the identities, the role and the Key Vault."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.name))
    error_message = "name must be a lowercase DNS label of at most 40 characters."
  }
}

variable "resource_group_id" {
  description = "ID of the cluster's resource group (the autoscaler role's scope)."
  type        = string
}

variable "resource_group_name" {
  description = "Name of the cluster's resource group."
  type        = string
}

variable "location" {
  description = "Azure location of the identities and the Key Vault."
  type        = string
}

variable "admin_cidrs" {
  description = "Source ranges allowed through the Key Vault firewall (where the configure stage writes the join material from)."
  type        = list(string)
}

variable "subnet_ids" {
  description = "Subnets whose machines reach the Key Vault through its service endpoint."
  type        = list(string)
}

variable "tags" {
  description = "Tags put on every resource of the module that takes tags."
  type        = map(string)
  default     = {}
}
