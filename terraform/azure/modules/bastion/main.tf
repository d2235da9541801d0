################################################################################
# Bastion: the only machine with a public address; SSH from admin_cidrs only
################################################################################

resource "azurerm_public_ip" "this" {
  name                = "${var.name}-bastion"
  resource_group_name = var.resource_group_name
  location            = var.location
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = [var.zone]
  tags                = var.tags
}

resource "azurerm_network_interface" "this" {
  #checkov:skip=CKV_AZURE_119:The bastion is the single SSH entry point and needs a public address; its NSG admits admin_cidrs only.
  name                = "${var.name}-bastion"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.this.id
  }
}

resource "azurerm_linux_virtual_machine" "this" {
  name                            = "${var.name}-bastion"
  resource_group_name             = var.resource_group_name
  location                        = var.location
  zone                            = var.zone
  size                            = var.size
  admin_username                  = var.ssh_user
  disable_password_authentication = true
  network_interface_ids           = [azurerm_network_interface.this.id]
  encryption_at_host_enabled      = true
  secure_boot_enabled             = true
  vtpm_enabled                    = true
  allow_extension_operations      = false
  source_image_id                 = var.image_id
  tags                            = var.tags

  admin_ssh_key {
    username   = var.ssh_user
    public_key = var.ssh_public_key
  }

  os_disk {
    caching                = "ReadWrite"
    storage_account_type   = "StandardSSD_LRS"
    disk_size_gb           = 30
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
