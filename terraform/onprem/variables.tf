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
  description = "Kubernetes release the configure stage installs, e.g. v1.37.2 (from the bill of materials)."
  type        = string

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must look like v1.37.2."
  }
}

################################################################################
# Hosts
################################################################################

variable "ssh" {
  description = "Login user and optional bastion (jump host) through which every host is reached."
  type = object({
    user         = string
    bastion_host = optional(string)
  })
}

variable "control_plane_hosts" {
  description = "Hosts that run the control plane; the first one runs kubeadm init."
  type = list(object({
    name    = string
    address = string
    pool    = optional(string)
    user    = optional(string)
  }))

  validation {
    condition     = length(var.control_plane_hosts) > 0
    error_message = "At least one control-plane host is needed."
  }
}

variable "hosts" {
  description = "Worker hosts, each in one node pool."
  type = list(object({
    name    = string
    address = string
    pool    = string
    user    = optional(string)
  }))
  default = []

  validation {
    condition     = length(distinct([for host in var.hosts : host.name])) == length(var.hosts)
    error_message = "Host names must be unique."
  }

  validation {
    condition = length(distinct(concat(
      [for host in var.hosts : host.address], [for host in var.control_plane_hosts : host.address]
    ))) == length(var.hosts) + length(var.control_plane_hosts)
    error_message = "Each host address may appear once."
  }
}

################################################################################
# Node pools
################################################################################

variable "node_pools" {
  description = "Node pools keyed by name; on-prem pools are as large as their listed hosts. GPU fields are null for CPU pools."
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
    machine_type         = optional(string, "host")
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
      pool.gpu_product == null ? pool.gpu_access == null : contains(["device-plugin", "dra"], coalesce(pool.gpu_access, "unset"))
    ])
    error_message = "GPU pools set gpu_access to device-plugin or dra; CPU pools leave it null."
  }

  validation {
    condition = alltrue([
      for name, pool in var.node_pools : pool.min_size <= pool.desired_size && pool.desired_size <= pool.max_size
    ])
    error_message = "Every pool needs min_size <= its number of hosts <= max_size."
  }
}
