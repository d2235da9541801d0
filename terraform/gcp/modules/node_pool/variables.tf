################################################################################
# Node pool
################################################################################

variable "cluster_name" {
  description = "Name of the cluster; the pool's group and machines are named <cluster_name>-np-<pool_name>."
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

variable "project_id" {
  description = "Project that holds the pool."
  type        = string
}

variable "zone" {
  description = "Zone of the pool's managed instance group (the cluster autoscaler's GCE provider scales zonal groups)."
  type        = string
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
}

variable "image" {
  description = "Boot image of the pool's machines; it must carry the node stack (containerd, kubelet, kubeadm and, on GPU pools, the NVIDIA driver and container toolkit)."
  type        = string
}

variable "subnetwork" {
  description = "Self link of the node subnet."
  type        = string
}

variable "network_tag" {
  description = "Network tag the firewall rules know nodes by."
  type        = string
}

variable "service_account" {
  description = "Email of the nodes' service account (reads the join secret)."
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

variable "api_server" {
  description = "host:port of the API server load balancer that joining nodes discover the cluster through."
  type        = string
}

variable "join_secret_id" {
  description = "Secret Manager id of the join material, in project_id."
  type        = string
}

variable "secure_boot" {
  description = "Shielded VM Secure Boot; the NVIDIA kernel modules of the image must then be signed (see the README)."
  type        = bool
  default     = true
}

variable "disk_kms_key" {
  description = "Cloud KMS key self link that encrypts the boot disks; null: Google-managed encryption."
  type        = string
  default     = null
}

variable "labels" {
  description = "GCP labels put on every resource of the module that takes labels (already sanitised)."
  type        = map(string)
  default     = {}
}
