locals {
  instances = {
    for index in range(var.instance_count) : format("%s-cp-%d", var.name, index) => var.zones[index % length(var.zones)]
  }
}

################################################################################
# Control-plane machines (kubeadm init / join --control-plane run by the configure stage)
################################################################################

resource "azurerm_network_interface" "this" {
  for_each = local.instances

  name                           = each.key
  resource_group_name            = var.resource_group_name
  location                       = var.location
  accelerated_networking_enabled = true
  tags                           = var.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = "Dynamic"
  }
}

resource "azurerm_linux_virtual_machine" "this" {
  for_each = local.instances

  name                            = each.key
  computer_name                   = each.key
  resource_group_name             = var.resource_group_name
  location                        = var.location
  zone                            = each.value
  size                            = var.size
  admin_username                  = var.ssh_user
  disable_password_authentication = true
  network_interface_ids           = [azurerm_network_interface.this[each.key].id]
  encryption_at_host_enabled      = true
  secure_boot_enabled             = var.secure_boot
  vtpm_enabled                    = true
  allow_extension_operations      = false
  source_image_id                 = var.image_id
  tags                            = merge(var.tags, { "aicluster.io_role" = "control-plane" })

  admin_ssh_key {
    username   = var.ssh_user
    public_key = var.ssh_public_key
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [var.identity_id]
  }

  os_disk {
    caching                = "ReadWrite"
    storage_account_type   = "Premium_LRS"
    disk_size_gb           = var.disk_size_gb
    disk_encryption_set_id = var.disk_encryption_set_id
  }

  dynamic "source_image_reference" {
    for_each = var.image_id == null ? [var.image_reference] : []

    content {
      publisher = source_image_reference.value.publisher
      offer     = source_image_reference.value.offer
      sku       = source_image_reference.value.sku
      version   = source_image_reference.value.version
    }
  }

  boot_diagnostics {}
}

################################################################################
# API load balancer: Standard public load balancer on 6443
################################################################################

resource "azurerm_public_ip" "this" {
  name                = "${var.name}-api"
  resource_group_name = var.resource_group_name
  location            = var.location
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = var.zones
  tags                = var.tags
}

resource "azurerm_lb" "this" {
  name                = "${var.name}-api"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "Standard"
  tags                = var.tags

  frontend_ip_configuration {
    name                 = "api"
    public_ip_address_id = azurerm_public_ip.this.id
  }
}

resource "azurerm_lb_backend_address_pool" "this" {
  name            = "control-plane"
  loadbalancer_id = azurerm_lb.this.id
}

resource "azurerm_network_interface_backend_address_pool_association" "this" {
  for_each = local.instances

  network_interface_id    = azurerm_network_interface.this[each.key].id
  ip_configuration_name   = "primary"
  backend_address_pool_id = azurerm_lb_backend_address_pool.this.id
}

# /readyz is readable anonymously (system:public-info-viewer) on a kubeadm cluster.
resource "azurerm_lb_probe" "this" {
  name                = "kube-apiserver"
  loadbalancer_id     = azurerm_lb.this.id
  protocol            = "Https"
  port                = 6443
  request_path        = "/readyz"
  interval_in_seconds = 5
  number_of_probes    = 2
}

resource "azurerm_lb_rule" "this" {
  name                           = "kube-apiserver"
  loadbalancer_id                = azurerm_lb.this.id
  frontend_ip_configuration_name = "api"
  protocol                       = "Tcp"
  frontend_port                  = 6443
  backend_port                   = 6443
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.this.id]
  probe_id                       = azurerm_lb_probe.this.id
  idle_timeout_in_minutes        = 30
  # Outbound traffic leaves through the subnet's NAT gateway.
  disable_outbound_snat = true
}
