locals {
  full_name = "${var.cluster_name}-np-${var.pool_name}"
  # Scale set names are at most 64 characters; computer names of Linux instances
  # are <prefix><6 characters>, at most 64.
  name = length(local.full_name) <= 58 ? local.full_name : "${substr(local.full_name, 0, 51)}-${substr(sha1(local.full_name), 0, 6)}"

  gpu         = var.pool.gpus_per_node > 0
  device_gpus = local.gpu && var.pool.gpu_access == "device-plugin"
  hsn         = var.pool.high_speed_networking
  reservation = try(var.pool.capacity_reservation.id, null)
  # The A100 ND sizes (NDasrA100_v4, NDm_A100_v4) offer no trusted launch: they boot as
  # standard VMs, without Secure Boot and vTPM.
  trusted_launch = length(regexall("^Standard_ND96a(s|ms)r_(v4|A100_v4)$", var.pool.machine_type)) == 0

  # Labels the kubelet registers with, and that the autoscaler's node template carries.
  node_labels = merge(
    var.pool.labels,
    var.pool.gpu_labels,
    { "aicluster.io/pool" = var.pool_name },
    # The autoscaler's Azure provider recognises GPU nodes by this label and waits for their
    # nvidia.com/gpu to appear before counting them as ready (device-plugin pools only).
    local.device_gpus ? { "accelerator" = "nvidia" } : {},
  )
  # kubelet refuses to register with labels of the kubernetes.io and k8s.io namespaces other
  # than its own few; the configure stage sets those through the API on the nodes it joins.
  kubernetes_namespace = "^([^/]*\\.)?(kubernetes\\.io|k8s\\.io)/"
  kubelet_namespace    = "^([^/]*\\.)?(kubelet\\.kubernetes\\.io|node\\.kubernetes\\.io)/"
  kubelet_keys = [
    "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
  ]
  kubelet_labels = {
    for key, value in local.node_labels : key => value
    if !can(regex(local.kubernetes_namespace, key)) || can(regex(local.kubelet_namespace, key)) || contains(local.kubelet_keys, key)
  }
  node_taints = [for taint in var.pool.taints : { key = taint.key, value = taint.value, effect = taint.effect }]

  # Tags the cluster autoscaler's Azure provider reads: auto-discovery, the group's bounds
  # and the node template of an empty scale set ('/' in names is written as '_').
  autoscaler_tags = merge(
    {
      "k8s.io_cluster-autoscaler_enabled"             = "true"
      "k8s.io_cluster-autoscaler_${var.cluster_name}" = "owned"
      "min"                                           = tostring(var.pool.min_size)
      "max"                                           = tostring(var.pool.max_size)
    },
    { for key, value in local.node_labels : "k8s.io_cluster-autoscaler_node-template_label_${replace(key, "/", "_")}" => value },
    { for taint in local.node_taints : "k8s.io_cluster-autoscaler_node-template_taint_${replace(taint.key, "/", "_")}" => "${taint.value}:${taint.effect}" },
    { for name, count in(local.device_gpus ? var.pool.gpu_resources : {}) : "k8s.io_cluster-autoscaler_node-template_resources_${replace(name, "/", "_")}" => tostring(count) },
  )
  scale_set_tags = merge(var.tags, { "aicluster.io_pool" = var.pool_name, "aicluster.io_role" = "node" }, local.autoscaler_tags)

  join_configuration = {
    apiVersion = "kubeadm.k8s.io/v1beta4"
    kind       = "JoinConfiguration"
    discovery = {
      bootstrapToken = {
        apiServerEndpoint = var.api_server
        token             = ""
        caCertHashes      = []
      }
    }
    nodeRegistration = {
      kubeletExtraArgs = [
        { name = "node-labels", value = join(",", [for key in sort(keys(local.kubelet_labels)) : "${key}=${local.kubelet_labels[key]}"]) },
      ]
      taints = local.node_taints
    }
  }
}

################################################################################
# Virtual machine scale set (Uniform orchestration, which the cluster autoscaler scales)
################################################################################

resource "azurerm_linux_virtual_machine_scale_set" "this" {
  #checkov:skip=CKV_AZURE_97:Encryption at host is enabled (encryption_at_host_enabled); the check looks for the argument of an older provider version.
  name                            = local.name
  computer_name_prefix            = local.name
  resource_group_name             = var.resource_group_name
  location                        = var.location
  sku                             = var.pool.machine_type
  instances                       = var.pool.desired_size
  zones                           = local.hsn ? [var.zones[0]] : var.zones
  admin_username                  = var.ssh_user
  disable_password_authentication = true
  upgrade_mode                    = "Manual"
  # The cluster autoscaler counts on the scale set creating exactly what it asks for.
  overprovision = false
  # InfiniBand needs one placement group; a capacity reservation group needs the opposite.
  single_placement_group        = local.hsn && local.reservation == null
  capacity_reservation_group_id = local.reservation
  encryption_at_host_enabled    = true
  secure_boot_enabled           = var.secure_boot && local.trusted_launch
  vtpm_enabled                  = local.trusted_launch
  extension_operations_enabled  = false
  source_image_id               = var.image_id
  tags                          = local.scale_set_tags

  custom_data = base64encode(templatefile("${path.module}/templates/join.sh.tftpl", {
    vault_name         = var.key_vault_name
    secret_name        = var.join_secret_name
    identity_client_id = var.identity.client_id
    join_configuration = base64encode(jsonencode(local.join_configuration))
  }))

  admin_ssh_key {
    username   = var.ssh_user
    public_key = var.ssh_public_key
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [var.identity.id]
  }

  os_disk {
    caching                = "ReadWrite"
    storage_account_type   = "Premium_LRS"
    disk_size_gb           = var.pool.disk_size_gb
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

  network_interface {
    name                           = "primary"
    primary                        = true
    accelerated_networking_enabled = true

    ip_configuration {
      name      = "primary"
      primary   = true
      subnet_id = var.subnet_id
    }
  }

  scale_in {
    rule = "Default"
  }

  boot_diagnostics {}

  lifecycle {
    # The cluster autoscaler owns the size once the scale set exists.
    ignore_changes = [instances]

    precondition {
      condition     = length(local.scale_set_tags) <= 50
      error_message = "Pool ${var.pool_name} needs more than 50 tags (Azure's limit) for its node template; use fewer labels or taints."
    }
  }
}

# The machines that exist now.
data "azurerm_virtual_machine_scale_set" "this" {
  name                = azurerm_linux_virtual_machine_scale_set.this.name
  resource_group_name = var.resource_group_name
}
