locals {
  subnets = {
    nodes         = cidrsubnet(var.network_cidr, 1, 0)
    control-plane = cidrsubnet(var.network_cidr, 4, 8)
    bastion       = cidrsubnet(var.network_cidr, 4, 9)
  }
  # Subnets whose machines have no public address and leave through the NAT gateway.
  private_subnets = toset(["nodes", "control-plane"])

  cni_rules = concat(
    [for port in var.cni_ports.tcp : { protocol = "Tcp", port = port }],
    [for port in var.cni_ports.udp : { protocol = "Udp", port = port }],
  )

  # Inbound rules per subnet; every subnet ends with a rule that denies the rest of the
  # VNet, which Azure's default rules would otherwise admit.
  rules = {
    control-plane = concat(
      [
        { name = "api-admins", priority = 100, protocol = "Tcp", port = "6443", sources = concat(var.admin_cidrs, [azurerm_public_ip.nat.ip_address]) },
        { name = "api-internal", priority = 110, protocol = "Tcp", port = "6443", sources = [var.network_cidr] },
        { name = "etcd", priority = 120, protocol = "Tcp", port = "2379-2380", sources = [local.subnets["control-plane"]] },
        { name = "kubelet", priority = 130, protocol = "Tcp", port = "10250", sources = [local.subnets["control-plane"], local.subnets["nodes"]] },
        { name = "ssh-bastion", priority = 140, protocol = "Tcp", port = "22", sources = [local.subnets["bastion"]] },
        { name = "icmp", priority = 150, protocol = "Icmp", port = "*", sources = [local.subnets["control-plane"], local.subnets["nodes"]] },
      ],
      [for index, rule in local.cni_rules : {
        name = "cni-${lower(rule.protocol)}-${replace(rule.port, "-", "to")}", priority = 200 + index, protocol = rule.protocol, port = rule.port, sources = [local.subnets["control-plane"], local.subnets["nodes"]]
      }],
    )
    nodes = concat(
      [
        { name = "kubelet", priority = 100, protocol = "Tcp", port = "10250", sources = [local.subnets["control-plane"], local.subnets["nodes"]] },
        { name = "node-ports-tcp", priority = 110, protocol = "Tcp", port = "30000-32767", sources = [var.network_cidr] },
        { name = "node-ports-udp", priority = 111, protocol = "Udp", port = "30000-32767", sources = [var.network_cidr] },
        { name = "ssh-bastion", priority = 140, protocol = "Tcp", port = "22", sources = [local.subnets["bastion"]] },
        { name = "icmp", priority = 150, protocol = "Icmp", port = "*", sources = [local.subnets["control-plane"], local.subnets["nodes"]] },
      ],
      [for index, rule in local.cni_rules : {
        name = "cni-${lower(rule.protocol)}-${replace(rule.port, "-", "to")}", priority = 200 + index, protocol = rule.protocol, port = rule.port, sources = [local.subnets["control-plane"], local.subnets["nodes"]]
      }],
    )
    bastion = [
      { name = "ssh-admins", priority = 100, protocol = "Tcp", port = "22", sources = var.admin_cidrs },
    ]
  }

  security_rules = merge([
    for subnet, rules in local.rules : {
      for rule in rules : "${subnet}/${rule.name}" => merge(rule, { subnet = subnet })
    }
  ]...)
}

################################################################################
# VNet and subnets (Azure subnets are regional: each one serves every zone)
################################################################################

resource "azurerm_virtual_network" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  address_space       = [var.network_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "this" {
  for_each = local.subnets

  name                            = each.key
  resource_group_name             = var.resource_group_name
  virtual_network_name            = azurerm_virtual_network.this.name
  address_prefixes                = [each.value]
  default_outbound_access_enabled = false
  # Nodes and the control plane reach the cluster's Key Vault through its service endpoint.
  service_endpoints = contains(local.private_subnets, each.key) ? ["Microsoft.KeyVault"] : []
}

################################################################################
# NAT gateway: outbound access for machines without public addresses
################################################################################

resource "azurerm_public_ip" "nat" {
  name                = "${var.name}-nat"
  resource_group_name = var.resource_group_name
  location            = var.location
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway" "this" {
  name                    = var.name
  resource_group_name     = var.resource_group_name
  location                = var.location
  sku_name                = "Standard"
  idle_timeout_in_minutes = 10
  tags                    = var.tags
}

resource "azurerm_nat_gateway_public_ip_association" "this" {
  nat_gateway_id       = azurerm_nat_gateway.this.id
  public_ip_address_id = azurerm_public_ip.nat.id
}

resource "azurerm_subnet_nat_gateway_association" "this" {
  for_each = local.private_subnets

  subnet_id      = azurerm_subnet.this[each.value].id
  nat_gateway_id = azurerm_nat_gateway.this.id
}

################################################################################
# Network security groups: only what Kubernetes needs among the cluster's machines
################################################################################

resource "azurerm_network_security_group" "this" {
  for_each = local.subnets

  name                = "${var.name}-${each.key}"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_network_security_rule" "allow" {
  for_each = local.security_rules

  name                        = each.value.name
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.this[each.value.subnet].name
  direction                   = "Inbound"
  access                      = "Allow"
  priority                    = each.value.priority
  protocol                    = each.value.protocol
  source_port_range           = "*"
  destination_port_range      = each.value.port
  source_address_prefixes     = each.value.sources
  destination_address_prefix  = local.subnets[each.value.subnet]
}

resource "azurerm_network_security_rule" "deny_vnet" {
  for_each = local.subnets

  name                        = "deny-other-vnet-inbound"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.this[each.key].name
  direction                   = "Inbound"
  access                      = "Deny"
  priority                    = 4000
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "VirtualNetwork"
  destination_address_prefix  = "*"
}

resource "azurerm_subnet_network_security_group_association" "this" {
  for_each = local.subnets

  subnet_id                 = azurerm_subnet.this[each.key].id
  network_security_group_id = azurerm_network_security_group.this[each.key].id
}

################################################################################
# VNet flow logs
################################################################################

resource "azurerm_storage_account" "flow_logs" {
  count = var.flow_logs == null ? 0 : 1

  #checkov:skip=CKV2_AZURE_1:Flow logs are encrypted with Microsoft-managed keys; a customer-managed key would need a Key Vault key the cluster does not otherwise hold.
  #checkov:skip=CKV2_AZURE_33:Network Watcher writes flow logs as a trusted Azure service (network rules admit AzureServices); no private endpoint is needed.
  #checkov:skip=CKV_AZURE_33:The account holds blobs only; queue logging does not apply.
  #checkov:skip=CKV2_AZURE_40:Network Watcher writes NSG and VNet flow logs with the account's shared key.
  #checkov:skip=CKV2_AZURE_41:No SAS token is issued for this account.
  #checkov:skip=CKV_AZURE_59:Network Watcher reaches the account as a trusted Azure service, which needs public network access with a deny-by-default firewall (network_rules below).
  #checkov:skip=CKV_AZURE_206:Flow logs are kept zone-redundant (ZRS) in the cluster's region; they need no geo-replica.
  name                              = "fl${substr(replace(var.name, "-", ""), 0, 16)}${substr(sha1("${var.resource_group_name}/${var.name}"), 0, 6)}"
  resource_group_name               = var.resource_group_name
  location                          = var.location
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = "ZRS"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  public_network_access_enabled     = true
  infrastructure_encryption_enabled = true
  local_user_enabled                = false
  tags                              = var.tags

  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices", "Logging", "Metrics"]
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }
}

resource "azurerm_network_watcher_flow_log" "this" {
  count = var.flow_logs == null ? 0 : 1

  #checkov:skip=CKV_AZURE_12:Retention comes from flow_logs.retention_days, 90 days unless the caller says otherwise (checkov cannot read the variable).

  name                 = var.name
  network_watcher_name = var.flow_logs.network_watcher_name
  resource_group_name  = var.flow_logs.network_watcher_resource_group_name
  target_resource_id   = azurerm_virtual_network.this.id
  storage_account_id   = azurerm_storage_account.flow_logs[0].id
  enabled              = true
  version              = 2
  tags                 = var.tags

  retention_policy {
    enabled = true
    days    = var.flow_logs.retention_days
  }
}
