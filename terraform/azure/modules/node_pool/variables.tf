################################################################################
# Node pool
################################################################################

variable "cluster_name" {
  description = "Name of the cluster; the pool's scale set is <cluster_name>-np-<pool_name>."
  type        = string
}

variable "pool_name" {
  description = "Name of the node pool (a DNS label)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$", var.pool_name))
    error_message = "pool_name must be a lowercase DNS label of at most 30 characters."
  }
}

variable "resource_group_name" {
  description = "Resource group of the scale set."
  type        = string
}

variable "location" {
  description = "Azure location of the scale set."
  type        = string
}

variable "zones" {
  description = "Availability zones of the scale set; pools with high-speed networking use the first one only (an InfiniBand fabric does not span zones)."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0
    error_message = "zones must name at least one zone."
  }
}

variable "pool" {
  description = "The pool, as in the root module's node_pools (see terraform/INPUTS.md)."
  type = object({
    gpu_product          = optional(string)
    gpus_per_node        = optional(number, 0)
    gpu_access           = optional(string)
    gpu_sharing_replicas = optional(number, 1)
    gpu_resources        = optional(map(number), {})
    gpu_labels           = optional(map(string), {})
    min_size             = number
    max_size             = number
    desired_size         = number
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
    machine_type          = string
    disk_size_gb          = optional(number, 100)
    high_speed_networking = optional(bool, false)
    capacity_reservation = optional(object({
      type = string
      id   = optional(string)
    }))
  })

  validation {
    condition     = var.pool.min_size >= 0 && var.pool.min_size <= var.pool.desired_size && var.pool.desired_size <= var.pool.max_size
    error_message = "The pool needs 0 <= min_size <= desired_size <= max_size."
  }

  validation {
    condition     = alltrue([for key in keys(merge(var.pool.labels, var.pool.gpu_labels)) : !strcontains(key, "_")])
    error_message = "Label keys must not contain '_': the cluster autoscaler reads '_' in node-template tag names as '/'."
  }
}

variable "subnet_id" {
  description = "ID of the node subnet."
  type        = string
}

variable "identity" {
  description = "The nodes' user-assigned identity: id and client id (the join script requests its Key Vault token with it)."
  type = object({
    id        = string
    client_id = string
  })
}

variable "image_id" {
  description = "ID of the pool's image; null: image_reference. Autoscaled pools need an image that carries the node stack."
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

variable "api_server" {
  description = "host:port of the API server load balancer that joining nodes discover the cluster through."
  type        = string
}

variable "key_vault_name" {
  description = "Name of the Key Vault that holds the join material."
  type        = string
}

variable "join_secret_name" {
  description = "Name of the Key Vault secret that holds the join material."
  type        = string
}

variable "secure_boot" {
  description = "Trusted launch Secure Boot; the NVIDIA kernel modules of the image must then be signed (see the README)."
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
