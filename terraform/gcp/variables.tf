################################################################################
# Cluster (terraform/INPUTS.md)
################################################################################

variable "cluster_name" {
  description = "Name of the cluster; a lowercase DNS label of at most 40 characters that prefixes every resource name."
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

variable "tags" {
  description = "Tags of every resource, put on GCP resources as labels (keys and values lower-cased, '/' and '.' replaced by '_'). Holds aicluster.io/cluster = <cluster_name>."
  type        = map(string)

  validation {
    condition     = lookup(var.tags, "aicluster.io/cluster", null) != null
    error_message = "tags must hold aicluster.io/cluster = <cluster_name>; the teardown's leak report searches for it."
  }
}

################################################################################
# Placement and network
################################################################################

variable "region" {
  description = "GCP region of every regional resource, e.g. us-central1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a GCP region such as us-central1."
  }
}

variable "zones" {
  description = "Zones of the region the control plane is spread over; node pools use the first one unless node_pool_zones says otherwise."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0
    error_message = "zones must name at least one zone."
  }

  validation {
    condition     = alltrue([for zone in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", zone))])
    error_message = "Every zone must look like us-central1-a."
  }
}

variable "network_cidr" {
  description = "Address range of the cluster's VPC subnets, e.g. 10.40.0.0/16."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.network_cidr)) && tonumber(split("/", var.network_cidr)[1]) <= 24
    error_message = "network_cidr must be an IPv4 CIDR block of /24 or larger, e.g. 10.40.0.0/16."
  }
}

variable "admin_cidrs" {
  description = "Source ranges allowed to reach the bastion's SSH port and the API server load balancer."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0
    error_message = "admin_cidrs must not be empty."
  }

  validation {
    condition     = alltrue([for cidr in var.admin_cidrs : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "admin_cidrs must be IPv4 CIDR blocks; 0.0.0.0/0 is refused."
  }
}

################################################################################
# Machines
################################################################################

variable "ssh_user" {
  description = "Login user of the OS image (e.g. ubuntu)."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_user))
    error_message = "ssh_user must be a POSIX user name."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ssh_user on every machine (a public key is not a secret)."
  type        = string

  validation {
    condition     = can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh.com) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line, e.g. ssh-ed25519 AAAA... user@host."
  }
}

variable "os_image" {
  description = "Image of every machine (self link, projects/<p>/global/images/<name> or .../images/family/<family>); null: the newest Ubuntu 24.04 LTS image. Node pools that autoscale need an image that carries the node stack."
  type        = string
  default     = null
}

variable "control_plane" {
  description = "Control-plane machines: count (1 or 3), machine type and boot disk size in GB."
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
    condition     = var.control_plane.disk_size_gb >= 30
    error_message = "control_plane.disk_size_gb must be at least 30."
  }
}

variable "node_pools" {
  description = "Node pools keyed by pool name (terraform/INPUTS.md). GPU fields are null or zero for CPU pools."
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
    disk_size_gb          = optional(number, 100)
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
    condition     = alltrue([for name in keys(var.node_pools) : can(regex("^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$", name))])
    error_message = "Pool names must be lowercase DNS labels of at most 30 characters."
  }

  validation {
    condition = alltrue([
      for pool in values(var.node_pools) :
      pool.min_size >= 0 && pool.min_size <= pool.desired_size && pool.desired_size <= pool.max_size
    ])
    error_message = "Every pool needs 0 <= min_size <= desired_size <= max_size."
  }

  validation {
    condition = alltrue(flatten([
      for pool in values(var.node_pools) : [
        for taint in pool.taints : contains(["NoSchedule", "PreferNoSchedule", "NoExecute"], taint.effect)
      ]
    ]))
    error_message = "Taint effects must be NoSchedule, PreferNoSchedule or NoExecute."
  }

  validation {
    condition = alltrue([
      for pool in values(var.node_pools) :
      pool.gpu_product == null ? pool.gpu_access == null : contains(["device-plugin", "dra"], coalesce(pool.gpu_access, "unset"))
    ])
    error_message = "GPU pools set gpu_access to device-plugin or dra; CPU pools leave it null."
  }

  validation {
    condition     = alltrue([for pool in values(var.node_pools) : (pool.gpu_product == null) == (pool.gpus_per_node == 0)])
    error_message = "A pool has a gpu_product exactly when gpus_per_node is above zero."
  }

  validation {
    condition     = alltrue([for pool in values(var.node_pools) : pool.gpu_sharing_replicas >= 1])
    error_message = "gpu_sharing_replicas must be at least 1 (1 = no sharing)."
  }

  validation {
    condition     = alltrue([for pool in values(var.node_pools) : pool.disk_size_gb >= 30])
    error_message = "Every pool's disk_size_gb must be at least 30."
  }

  validation {
    condition = alltrue([
      for pool in values(var.node_pools) :
      pool.capacity_reservation == null ? true : contains(["on-demand", "capacity-block"], pool.capacity_reservation.type)
    ])
    error_message = "capacity_reservation.type must be on-demand or capacity-block."
  }

  validation {
    condition = alltrue([
      for pool in values(var.node_pools) :
      pool.capacity_reservation == null ? true : (pool.capacity_reservation.type == "on-demand" || pool.capacity_reservation.id != null)
    ])
    error_message = "A capacity-block reservation is consumed by name on GCP: capacity_reservation.id must name the reservation."
  }

  validation {
    condition = alltrue(flatten([
      for pool in values(var.node_pools) : [
        for key, value in merge(pool.labels, pool.gpu_labels) : length(regexall("[,;=]", value)) == 0
      ]
    ]))
    error_message = "Label values must not contain ',', ';' or '=' (they are not valid Kubernetes label values)."
  }
}

################################################################################
# GCP
################################################################################

variable "project_id" {
  description = "Project that holds every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id (6 to 30 lowercase letters, digits and hyphens)."
  }
}

variable "node_pool_zones" {
  description = "Zone of each pool's managed instance group, by pool name; pools not named here use the first of zones. A pool is one zonal group: the cluster autoscaler's GCE provider scales zonal groups, and compact placement and specific reservations are zonal."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for zone in values(var.node_pool_zones) : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", zone))])
    error_message = "Every zone in node_pool_zones must look like us-central1-a."
  }
}

variable "bastion_machine_type" {
  description = "Machine type of the SSH bastion."
  type        = string
  default     = "e2-small"
}

variable "cni_ports" {
  description = "Ports the pod network uses between cluster members (default: Cilium's VXLAN 8472/udp and health 4240/tcp); opened among cluster members only."
  type = object({
    tcp = list(string)
    udp = list(string)
  })
  default = {
    tcp = ["4240"]
    udp = ["8472"]
  }
}

variable "secure_boot" {
  description = "Shielded VM Secure Boot on every machine. Keep it on with an image whose NVIDIA kernel modules are signed (Ubuntu's linux-modules-nvidia packages); turn it off for images with unsigned DKMS-built modules."
  type        = bool
  default     = true
}

variable "disk_kms_key" {
  description = "Cloud KMS key self link (CMEK) that encrypts every boot disk; null: Google-managed encryption. Compute Engine's service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
}

variable "secret_kms_key" {
  description = "Cloud KMS key (CMEK) that encrypts the join secret; null: Google-managed encryption. Secret Manager's service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
}
