output "control_plane_identity" {
  description = "The control plane's user-assigned identity: id, client id and principal id."
  value = {
    id           = try(azurerm_user_assigned_identity.control_plane.id, null)
    client_id    = try(azurerm_user_assigned_identity.control_plane.client_id, null)
    principal_id = try(azurerm_user_assigned_identity.control_plane.principal_id, null)
  }
}

output "node_identity" {
  description = "The nodes' user-assigned identity: id, client id and principal id."
  value = {
    id           = try(azurerm_user_assigned_identity.node.id, null)
    client_id    = try(azurerm_user_assigned_identity.node.client_id, null)
    principal_id = try(azurerm_user_assigned_identity.node.principal_id, null)
  }
}

output "key_vault_name" {
  description = "Name of the cluster's Key Vault."
  value       = try(azurerm_key_vault.this.name, null)
}

output "key_vault_uri" {
  description = "URI of the cluster's Key Vault."
  value       = try(azurerm_key_vault.this.vault_uri, null)
}

output "join_secret_name" {
  description = "Name of the Key Vault secret that holds the join material (written by the configure stage)."
  value       = local.join_secret
}

output "join_secret_path" {
  description = "<vault name>/<secret name> of the join material."
  value       = format("%s/%s", azurerm_key_vault.this.name, local.join_secret)
}

output "join_secret_access" {
  description = "Role assignments nodes need before they can read the join material."
  value       = [try(azurerm_role_assignment.node_secrets_user.id, null)]
}

output "autoscaler_role_definition_id" {
  description = "ID of the cluster autoscaler's custom role."
  value       = try(azurerm_role_definition.autoscaler.role_definition_resource_id, null)
}
