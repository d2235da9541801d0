provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  # GCP labels: lower case, and only letters, digits, '_' and '-' ('/' and '.' become '_').
  labels = {
    for key, value in var.tags :
    substr(replace(lower(key), "/[^a-z0-9_-]/", "_"), 0, 63) => substr(replace(lower(value), "/[^a-z0-9_-]/", "_"), 0, 63)
  }

  image = var.os_image != null ? var.os_image : data.google_compute_image.ubuntu[0].self_link

  pool_zones = { for name in keys(var.node_pools) : name => lookup(var.node_pool_zones, name, var.zones[0]) }
}

data "google_compute_image" "ubuntu" {
  count = var.os_image == null ? 1 : 0

  project = "ubuntu-os-cloud"
  family  = "ubuntu-2404-lts-amd64"
}

################################################################################
# Network, identities, bastion
################################################################################

module "network" {
  source = "./modules/network"

  name         = var.cluster_name
  project_id   = var.project_id
  region       = var.region
  network_cidr = var.network_cidr
  admin_cidrs  = var.admin_cidrs
  cni_ports    = var.cni_ports
  labels       = local.labels
}

module "identity" {
  source = "./modules/identity"

  name           = var.cluster_name
  project_id     = var.project_id
  region         = var.region
  secret_kms_key = var.secret_kms_key
  labels         = local.labels
}

module "bastion" {
  source = "./modules/bastion"

  name           = var.cluster_name
  project_id     = var.project_id
  zone           = var.zones[0]
  machine_type   = var.bastion_machine_type
  image          = local.image
  subnetwork     = module.network.control_plane_subnet_self_link
  network_tag    = module.network.bastion_tag
  ssh_user       = var.ssh_user
  ssh_public_key = var.ssh_public_key
  disk_kms_key   = var.disk_kms_key
  labels         = local.labels
}

################################################################################
# Control plane behind the API load balancer
################################################################################

module "control_plane" {
  source = "./modules/control_plane"

  name            = var.cluster_name
  project_id      = var.project_id
  region          = var.region
  zones           = var.zones
  instance_count  = var.control_plane.count
  machine_type    = var.control_plane.machine_type
  disk_size_gb    = var.control_plane.disk_size_gb
  image           = local.image
  subnetwork      = module.network.control_plane_subnet_self_link
  network_tag     = module.network.control_plane_tag
  service_account = module.identity.control_plane_service_account
  ssh_user        = var.ssh_user
  ssh_public_key  = var.ssh_public_key
  secure_boot     = var.secure_boot
  disk_kms_key    = var.disk_kms_key
  labels          = local.labels
}

################################################################################
# Node pools: one zonal managed instance group each
################################################################################

module "node_pool" {
  source   = "./modules/node_pool"
  for_each = var.node_pools

  cluster_name    = var.cluster_name
  pool_name       = each.key
  pool            = each.value
  project_id      = var.project_id
  zone            = local.pool_zones[each.key]
  image           = local.image
  subnetwork      = module.network.node_subnet_self_link
  network_tag     = module.network.node_tag
  service_account = module.identity.node_service_account
  ssh_user        = var.ssh_user
  ssh_public_key  = var.ssh_public_key
  api_server      = "${module.control_plane.api_address}:6443"
  join_secret_id  = module.identity.join_secret_id
  secure_boot     = var.secure_boot
  disk_kms_key    = var.disk_kms_key
  labels          = local.labels
}
