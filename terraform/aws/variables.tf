################################################################################
# Cluster
################################################################################

variable "cluster_name" {
  description = "Name of the cluster; a lowercase DNS label of at most 40 characters. Prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be a lowercase DNS label of at most 40 characters."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes release that the configure stage installs, e.g. v1.37.2 (from the bill of materials)."
  type        = string

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version must look like v1.37.2."
  }
}

variable "tags" {
  description = "Tags put on every resource that takes tags. aicluster.io/cluster = <cluster_name> is always added."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) <= 128 && length(value) <= 256])
    error_message = "AWS tag keys are at most 128 characters and values at most 256."
  }
}

################################################################################
# Location and network
################################################################################

variable "region" {
  description = "AWS region of every resource, e.g. us-east-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "zones" {
  description = "Availability zones of the region to spread subnets and node pools over (at least one, at most six). Pools with high_speed_networking or a capacity_reservation use the first zone only."
  type        = list(string)

  validation {
    condition     = length(var.zones) >= 1 && length(var.zones) <= 6 && length(distinct(var.zones)) == length(var.zones)
    error_message = "zones must list one to six distinct availability zones."
  }

  validation {
    condition     = alltrue([for zone in var.zones : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$", zone))])
    error_message = "Each zone must be an availability zone name such as us-east-1a."
  }
}

variable "network_cidr" {
  description = "IPv4 address range of the VPC, e.g. 10.40.0.0/16 (prefix length 16 to 22)."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.network_cidr)) && try(tonumber(split("/", var.network_cidr)[1]) >= 16 && tonumber(split("/", var.network_cidr)[1]) <= 22, false)
    error_message = "network_cidr must be an IPv4 CIDR block with a prefix length from /16 to /22."
  }
}

variable "admin_cidrs" {
  description = "IPv4 source ranges allowed to reach the bastion's SSH port and the API server load balancer. Never empty; 0.0.0.0/0 is refused."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0
    error_message = "admin_cidrs must list at least one source range."
  }

  validation {
    condition     = alltrue([for cidr in var.admin_cidrs : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "admin_cidrs must be IPv4 CIDR blocks other than 0.0.0.0/0."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every private subnet instead of one per zone (cheaper, but egress depends on one zone)."
  type        = bool
  default     = false
}

variable "cni" {
  description = "CNI plugin whose node-to-node ports the security groups open: cilium, calico or flannel."
  type        = string
  default     = "cilium"

  validation {
    condition     = contains(["cilium", "calico", "flannel"], var.cni)
    error_message = "cni must be cilium, calico or flannel."
  }
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention period that CloudWatch Logs accepts."
  }
}

################################################################################
# Access
################################################################################

variable "ssh_user" {
  description = "Login user of the OS image (ubuntu for the default Ubuntu image)."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "ssh_user must be a valid Linux user name."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ssh_user on every machine (a public key is not a secret)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp*)."
  }
}

variable "bastion_instance_type" {
  description = "Instance type of the SSH bastion."
  type        = string
  default     = "t3.micro"
}

################################################################################
# Machines
################################################################################

variable "os_image" {
  description = "AMI id of every machine; null: the newest Canonical Ubuntu 24.04 LTS amd64 image. Autoscaled nodes join without Ansible, so their image must carry the node stack (see README)."
  type        = string
  default     = null

  validation {
    condition     = var.os_image == null || can(regex("^ami-[0-9a-f]{8,17}$", var.os_image))
    error_message = "os_image must be null or an AMI id (ami-...)."
  }
}

variable "control_plane" {
  description = "Control-plane machines: count (1 or 3), instance type and root disk size in GiB."
  type = object({
    count        = number
    machine_type = string
    disk_size_gb = number
  })

  validation {
    condition     = contains([1, 3], var.control_plane.count)
    error_message = "control_plane.count must be 1 or 3."
  }

  validation {
    condition     = length(var.control_plane.machine_type) > 0 && var.control_plane.disk_size_gb >= 20
    error_message = "control_plane needs a machine_type and disk_size_gb of at least 20."
  }
}

variable "node_pools" {
  description = "Node pools keyed by pool name (terraform/INPUTS.md): GPU shape, sizes, labels, taints, instance type, disk, EFA and capacity reservation. GPU fields are null for CPU pools."
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
    disk_size_gb          = optional(number, 200)
    high_speed_networking = optional(bool, false)
    capacity_reservation = optional(object({
      type = string
      id   = optional(string)
    }))
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
    condition     = alltrue([for name, pool in var.node_pools : can(regex("^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$", name))])
    error_message = "Pool names must be lowercase DNS labels of at most 30 characters."
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
      for name, pool in var.node_pools : (pool.gpu_product == null) == (pool.gpus_per_node == 0) && pool.gpu_sharing_replicas >= 1
    ])
    error_message = "A pool has a gpu_product exactly when gpus_per_node is above zero, and gpu_sharing_replicas is at least 1."
  }

  validation {
    condition     = alltrue([for name, pool in var.node_pools : length(pool.machine_type) > 0 && pool.disk_size_gb >= 20])
    error_message = "Every pool needs a machine_type and disk_size_gb of at least 20."
  }

  validation {
    condition = alltrue([
      for name, pool in var.node_pools :
      pool.capacity_reservation == null || try(
        contains(["on-demand", "capacity-block"], pool.capacity_reservation.type) &&
        (pool.capacity_reservation.id == null ? pool.capacity_reservation.type == "on-demand" : can(regex("^cr-[0-9a-f]{8,17}$", pool.capacity_reservation.id))),
        false
      )
    ])
    error_message = "capacity_reservation.type must be on-demand or capacity-block; a capacity-block needs its id, and an id looks like cr-0123456789abcdef0."
  }
}
