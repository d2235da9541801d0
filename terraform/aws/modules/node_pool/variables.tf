################################################################################
# Pool
################################################################################

variable "create" {
  description = "Create the pool's launch template, placement group and autoscaling group."
  type        = bool
  default     = true
}

variable "cluster_name" {
  description = "Name of the cluster; prefixes every resource and names the autoscaler tags."
  type        = string
}

variable "pool_name" {
  description = "Name of the pool (a DNS label)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the pool."
  type        = string
}

variable "min_size" {
  description = "Smallest size of the autoscaling group; 0 lets the cluster autoscaler scale from zero."
  type        = number
}

variable "max_size" {
  description = "Largest size of the autoscaling group."
  type        = number

  validation {
    condition     = var.min_size >= 0 && var.min_size <= var.desired_size && var.desired_size <= var.max_size
    error_message = "The pool needs 0 <= min_size <= desired_size <= max_size."
  }
}

variable "desired_size" {
  description = "Initial size of the autoscaling group; later the cluster autoscaler owns it."
  type        = number

  validation {
    condition     = var.desired_size >= 0
    error_message = "desired_size must not be negative."
  }
}

variable "disk_size_gb" {
  description = "Root disk size in GiB (encrypted gp3)."
  type        = number
}

variable "tags" {
  description = "Tags of every resource and of the pool's machines."
  type        = map(string)
  default     = {}
}

################################################################################
# Kubernetes node shape
################################################################################

variable "gpu_product" {
  description = "Catalog GPU product of the pool; null for CPU pools."
  type        = string
  default     = null
}

variable "gpus_per_node" {
  description = "GPUs of each machine; 0 for CPU pools."
  type        = number
  default     = 0
}

variable "gpu_access" {
  description = "device-plugin (the nvidia.com/gpu extended resource) or dra; null for CPU pools."
  type        = string
  default     = null

  validation {
    condition     = var.gpu_access == null || contains(["device-plugin", "dra"], coalesce(var.gpu_access, "none"))
    error_message = "gpu_access must be device-plugin, dra or null."
  }
}

variable "gpu_resources" {
  description = "Extended resources a node advertises through the device plugin (name => count per node): nvidia.com/gpu, or nvidia.com/mig-<profile> for MIG partitions. Node-template tags only."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for name, count in var.gpu_resources : count >= 1 && startswith(name, "nvidia.com/")])
    error_message = "gpu_resources maps nvidia.com/ resource names to counts of at least 1."
  }
}

variable "gpu_labels" {
  description = "GPU Feature Discovery labels a node carries once its GPU stack runs (node-template tags only)."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Node labels from the spec; the kubelet registers them."
  type        = map(string)
  default     = {}
}

variable "taints" {
  description = "Node taints {key, value, effect}; the kubelet registers them."
  type = list(object({
    key    = string
    value  = string
    effect = string
  }))
  default = []
}

################################################################################
# Machines
################################################################################

variable "image_id" {
  description = "AMI of the pool; it must carry the node stack for machines the autoscaler adds."
  type        = string
}

variable "root_device_name" {
  description = "Root device name of the AMI."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in zone order; pools with EFA or a capacity reservation use the first only."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the pool's primary network interface."
  type        = list(string)
}

variable "efa_security_group_id" {
  description = "Security group of EFA interfaces (all traffic among its members); needed with high_speed_networking."
  type        = string
  default     = null
}

variable "instance_profile_arn" {
  description = "Instance profile of the nodes (reads the join material)."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair installed for the login user."
  type        = string
}

variable "metadata_hop_limit" {
  description = "IMDSv2 response hop limit; 1 keeps pods (other than host-network ones) away from the node role."
  type        = number
  default     = 1
}

variable "wait_for_capacity_timeout" {
  description = "How long Terraform waits for desired_size machines to be in service (\"0\" does not wait)."
  type        = string
  default     = "20m"
}

################################################################################
# EFA and capacity
################################################################################

variable "high_speed_networking" {
  description = "EFA interfaces (as many as the instance type has network cards for EFA) and, without a capacity reservation, a cluster placement group."
  type        = bool
  default     = false
}

variable "capacity_reservation" {
  description = "null: on-demand capacity. {type = on-demand, id = null}: any open ODCR; {type = on-demand, id}: that ODCR only; {type = capacity-block, id}: that EC2 Capacity Block. A reserved pool gets no placement group."
  type = object({
    type = string
    id   = optional(string)
  })
  default = null

  validation {
    condition = var.capacity_reservation == null || try(
      contains(["on-demand", "capacity-block"], var.capacity_reservation.type) &&
      (var.capacity_reservation.type == "on-demand" || var.capacity_reservation.id != null),
      false
    )
    error_message = "capacity_reservation.type must be on-demand or capacity-block, and a capacity-block needs its id."
  }
}

################################################################################
# Joining
################################################################################

variable "api_endpoint" {
  description = "host:port of the Kubernetes API that new nodes join through."
  type        = string
}

variable "join_parameter_name" {
  description = "SSM Parameter Store path of the join material (SecureString JSON {token, ca_cert_hash})."
  type        = string
}

variable "region" {
  description = "AWS region of the join-material parameter."
  type        = string
}
