provider "azurerm" {
  # The subscription comes from the standard credential chain (ARM_SUBSCRIPTION_ID, the
  # Azure CLI or a managed identity), never from a module input.
  features {}
}

locals {
  # Azure tag names cannot hold '<', '>', '%', '&', '\', '?' or '/'.
  tags = { for key, value in var.tags : replace(key, "/[<>%&\\\\?/]/", "_") => value }

  create_resource_group = var.resource_group_name == null
  resource_group_name   = local.create_resource_group ? azurerm_resource_group.this[0].name : data.azurerm_resource_group.this[0].name
  resource_group_id     = local.create_resource_group ? azurerm_resource_group.this[0].id : data.azurerm_resource_group.this[0].id

  image_urn = var.os_image != null && !startswith(coalesce(var.os_image, "/"), "/") ? split(":", var.os_image) : null
  image_id  = var.os_image != null && local.image_urn == null ? var.os_image : null
  image_reference = local.image_urn != null ? {
    publisher = local.image_urn[0]
    offer     = local.image_urn[1]
    sku       = local.image_urn[2]
    version   = local.image_urn[3]
    } : {
    publisher = "Canonical"
    offer     = "ubuntu-24_04-lts"
    sku       = "server"
    version   = try(data.azurerm_platform_image.ubuntu[0].version, "latest")
  }

  flow_logs = var.flow_logs == null ? null : {
    network_watcher_name                = coalesce(var.flow_logs.network_watcher_name, "NetworkWatcher_${var.region}")
    network_watcher_resource_group_name = var.flow_logs.network_watcher_resource_group_name
    retention_days                      = var.flow_logs.retention_days
  }
}

# The newest Ubuntu 24.04 LTS image (generation 2, for trusted launch), pinned by version
# so that every machine of a build boots the same image.
data "azurerm_platform_image" "ubuntu" {
  count = var.os_image == null ? 1 : 0

  location  = var.region
  publisher = "Canonical"
  offer     = "ubuntu-24_04-lts"
  sku       = "server"
}

################################################################################
# Resource group
################################################################################

resource "azurerm_resource_group" "this" {
  count = local.create_resource_group ? 1 : 0

  name     = "${var.cluster_name}-rg"
  location = var.region
  tags     = local.tags
}

data "azurerm_resource_group" "this" {
  count = local.create_resource_group ? 0 : 1

  name = var.resource_group_name
}

################################################################################
# Network, identities, bastion
################################################################################

module "network" {
  source = "./modules/network"

  name                = var.cluster_name
  resource_group_name = local.resource_group_name
  location            = var.region
  network_cidr        = var.network_cidr
  admin_cidrs         = var.admin_cidrs
  cni_ports           = var.cni_ports
  flow_logs           = local.flow_logs
  tags                = local.tags
}

module "identity" {
  source = "./modules/identity"

  name                = var.cluster_name
  resource_group_id   = local.resource_group_id
  resource_group_name = local.resource_group_name
  location            = var.region
  admin_cidrs         = var.admin_cidrs
  subnet_ids          = [module.network.subnet_ids["nodes"], module.network.subnet_ids["control-plane"]]
  tags                = local.tags
}

module "bastion" {
  source = "./modules/bastion"

  name                   = var.cluster_name
  resource_group_name    = local.resource_group_name
  location               = var.region
  zone                   = var.zones[0]
  size                   = var.bastion_size
  subnet_id              = module.network.subnet_ids["bastion"]
  image_id               = local.image_id
  image_reference        = local.image_reference
  ssh_user               = var.ssh_user
  ssh_public_key         = var.ssh_public_key
  disk_encryption_set_id = var.disk_encryption_set_id
  tags                   = local.tags
}

################################################################################
# Control plane behind the API load balancer
################################################################################

module "control_plane" {
  source = "./modules/control_plane"

  name                   = var.cluster_name
  resource_group_name    = local.resource_group_name
  location               = var.region
  zones                  = var.zones
  instance_count         = var.control_plane.count
  size                   = var.control_plane.machine_type
  disk_size_gb           = var.control_plane.disk_size_gb
  subnet_id              = module.network.subnet_ids["control-plane"]
  identity_id            = module.identity.control_plane_identity.id
  image_id               = local.image_id
  image_reference        = local.image_reference
  ssh_user               = var.ssh_user
  ssh_public_key         = var.ssh_public_key
  secure_boot            = var.secure_boot
  disk_encryption_set_id = var.disk_encryption_set_id
  tags                   = local.tags

  depends_on = [module.network]
}

################################################################################
# Node pools: one scale set each
################################################################################

module "node_pool" {
  source   = "./modules/node_pool"
  for_each = var.node_pools

  cluster_name           = var.cluster_name
  pool_name              = each.key
  pool                   = each.value
  resource_group_name    = local.resource_group_name
  location               = var.region
  zones                  = var.zones
  subnet_id              = module.network.subnet_ids["nodes"]
  identity               = module.identity.node_identity
  image_id               = local.image_id
  image_reference        = local.image_reference
  ssh_user               = var.ssh_user
  ssh_public_key         = var.ssh_public_key
  api_server             = "${module.control_plane.api_address}:6443"
  key_vault_name         = module.identity.key_vault_name
  join_secret_name       = module.identity.join_secret_name
  secure_boot            = var.secure_boot
  disk_encryption_set_id = var.disk_encryption_set_id
  tags                   = local.tags

  # Outbound access (NAT gateway) and the right to read the join material come first.
  depends_on = [module.network, module.identity]
}
