################################################################################
# IAM
################################################################################

variable "name" {
  description = "Name prefix of every role, profile and policy (the cluster name)."
  type        = string
}

variable "join_parameter_name" {
  description = "SSM Parameter Store path (SecureString) of the node join material, which the configure stage writes."
  type        = string

  validation {
    condition     = startswith(var.join_parameter_name, "/")
    error_message = "join_parameter_name must be an absolute parameter path."
  }
}

variable "enable_cluster_autoscaler" {
  description = "Give the control-plane role the cluster-autoscaler policy (scale this cluster's tagged groups only)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
