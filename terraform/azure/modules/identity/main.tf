data "azurerm_client_config" "current" {}

locals {
  # Key Vault names: 3 to 24 letters, digits and single hyphens, globally unique.
  vault_prefix = trimsuffix(replace(substr(var.name, 0, 13), "/-+/", "-"), "-")
  vault_name   = "kv-${local.vault_prefix}-${substr(sha1(var.resource_group_id), 0, 6)}"
  join_secret  = "node-join"

  # What the cluster autoscaler's Azure provider reads and changes on the cluster's scale sets.
  autoscaler_actions = [
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachineScaleSets/write",
    "Microsoft.Compute/virtualMachineScaleSets/delete/action",
    "Microsoft.Compute/virtualMachineScaleSets/instanceView/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/delete",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/disks/read",
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.Compute/capacityReservationGroups/read",
    "Microsoft.Compute/capacityReservationGroups/deploy/action",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    # Writing a scale set re-assigns its user-assigned identity.
    "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
  ]
}

################################################################################
# Managed identities: one for the control plane, one for the nodes
################################################################################

resource "azurerm_user_assigned_identity" "control_plane" {
  name                = "${var.name}-control-plane"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_user_assigned_identity" "node" {
  name                = "${var.name}-node"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

################################################################################
# Join material: a vault for the cluster; the configure stage writes the secret
################################################################################

resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV_AZURE_189:Public access is limited by the vault firewall to admin_cidrs (where the configure stage writes the join material) and the cluster's subnets through their service endpoint.
  #checkov:skip=CKV2_AZURE_32:The cluster's machines reach the vault through a service endpoint; a private endpoint would keep the configure stage, which runs outside the VNet, from writing the join material.
  name                          = local.vault_name
  resource_group_name           = var.resource_group_name
  location                      = var.location
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 7
  public_network_access_enabled = true
  tags                          = var.tags

  network_acls {
    default_action             = "Deny"
    bypass                     = "AzureServices"
    ip_rules                   = [for cidr in var.admin_cidrs : trimsuffix(cidr, "/32")]
    virtual_network_subnet_ids = var.subnet_ids
  }
}

resource "azurerm_role_assignment" "node_secrets_user" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.node.principal_id
  principal_type       = "ServicePrincipal"
}

# The control plane may write the secret, so that it can rotate the bootstrap token itself.
resource "azurerm_role_assignment" "control_plane_secrets_officer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = azurerm_user_assigned_identity.control_plane.principal_id
  principal_type       = "ServicePrincipal"
}

# Whoever runs Terraform runs the configure stage, which writes the join material.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

################################################################################
# Cluster autoscaler: a custom role limited to the cluster's resource group
################################################################################

resource "azurerm_role_definition" "autoscaler" {
  name              = "${var.name}-cluster-autoscaler"
  scope             = var.resource_group_id
  description       = "Reads and resizes the node scale sets of ${var.name} for the cluster autoscaler."
  assignable_scopes = [var.resource_group_id]

  permissions {
    actions = local.autoscaler_actions
  }
}

resource "azurerm_role_assignment" "autoscaler" {
  scope              = var.resource_group_id
  role_definition_id = azurerm_role_definition.autoscaler.role_definition_resource_id
  principal_id       = azurerm_user_assigned_identity.control_plane.principal_id
  principal_type     = "ServicePrincipal"
}
