################################################################################
# Cluster
################################################################################

variable "cluster_name" {
  description = "Name of the cluster; a lowercase DNS label of at most 40 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a lowercase DNS label of at most 40 characters."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes release of the control plane, e.g. v1.37.2 (from the bill of materials)."
  type        = string

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must look like v1.37.2."
  }
}

variable "tags" {
  description = "Labels recorded on every simulated machine, as clouds record tags."
  type        = map(string)
  default     = {}
}

################################################################################
# Node pools
################################################################################

variable "node_pools" {
  description = "Simulated node pools, keyed by pool name. GPU fields are null for CPU pools; gpu_labels are the GPU Feature Discovery labels of the product."
  type = map(object({
    gpu_product          = optional(string)
    gpus_per_node        = optional(number, 0)
    gpu_access           = optional(string)
    gpu_sharing_replicas = optional(number, 1)
    gpu_resources        = optional(map(number), {})
    gpu_labels           = optional(map(string), {})
    min_size             = number
    max_size             = number
    desired_size         = number
    cpu                  = string
    memory               = string
    labels               = optional(map(string), {})
    gpu_mig = optional(object({
      devices  = map(number)
      strategy = optional(string)
    }))
    taints = optional(list(object({
      key    = string
      value  = optional(string, "")
      effect = string
    })), [])
  }))

  validation {
    condition = alltrue([
      for name, pool in var.node_pools :
      contains(["single", "mixed"], coalesce(try(pool.gpu_mig.strategy, null), "mixed")) && alltrue([for count in values(pool.gpu_resources) : count >= 1])
    ])
    error_message = "gpu_mig.strategy must be single, mixed or null, and every gpu_resources count at least 1."
  }

  validation {
    condition     = length(var.node_pools) > 0
    error_message = "node_pools must describe at least one pool."
  }

  validation {
    condition = alltrue([
      for name, pool in var.node_pools :
      pool.min_size >= 0 && pool.min_size <= pool.desired_size && pool.desired_size <= pool.max_size
    ])
    error_message = "Every pool needs 0 <= min_size <= desired_size <= max_size."
  }

  validation {
    condition = alltrue(flatten([
      for name, pool in var.node_pools : [
        for taint in pool.taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], taint.effect)
      ]
    ]))
    error_message = "Taint effects must be NoSchedule, PreferNoSchedule or NoExecute."
  }

  validation {
    condition = alltrue([
      for name, pool in var.node_pools :
      pool.gpu_product == null ? pool.gpu_access == null : contains(["device-plugin", "dra"], coalesce(pool.gpu_access, "unset"))
    ])
    error_message = "GPU pools set gpu_access to device-plugin or dra; CPU pools leave it null."
  }

  validation {
    condition = alltrue([
      for name, pool in var.node_pools : (pool.gpu_product == null) == (pool.gpus_per_node == 0)
    ])
    error_message = "A pool has a gpu_product exactly when gpus_per_node is above zero."
  }
}
