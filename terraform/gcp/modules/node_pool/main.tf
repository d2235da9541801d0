locals {
  full_name = "${var.cluster_name}-np-${var.pool_name}"
  # Instance names are <base>-<4 characters>, at most 63 characters.
  name = length(local.full_name) <= 58 ? local.full_name : "${substr(local.full_name, 0, 51)}-${substr(sha1(local.full_name), 0, 6)}"

  gpu         = var.pool.gpus_per_node > 0
  device_gpus = local.gpu && var.pool.gpu_access == "device-plugin"

  # Accelerator type names of Compute Engine, used for N1 attachments and the autoscaler's GPU label.
  accelerator_types = {
    "H100-80GB"  = "nvidia-h100-80gb"
    "H200-141GB" = "nvidia-h200-141gb"
    "B200"       = "nvidia-b200"
    "A100-80GB"  = "nvidia-a100-80gb"
    "A100-40GB"  = "nvidia-tesla-a100"
    "L4"         = "nvidia-l4"
    "T4"         = "nvidia-tesla-t4"
  }
  accelerator_type = local.gpu ? lookup(local.accelerator_types, var.pool.gpu_product, null) : null
  # A2, A3, A4 and G2 machine types carry their GPUs; N1 machine types take them as attachments.
  attach_accelerator = local.gpu && startswith(var.pool.machine_type, "n1-")
  # A3 Ultra and A4 boot from Hyperdisk only.
  disk_type = length(regexall("^(a3-ultragpu|a4-)", var.pool.machine_type)) > 0 ? "hyperdisk-balanced" : "pd-balanced"

  # Labels the kubelet registers with, and that the autoscaler's node template carries.
  node_labels = merge(
    var.pool.labels,
    var.pool.gpu_labels,
    { "aicluster.io/pool" = var.pool_name },
    # The autoscaler's GCE provider recognises GPU nodes by this label and waits for their
    # nvidia.com/gpu to appear before counting them as ready (device-plugin pools only).
    local.device_gpus && local.accelerator_type != null ? { "cloud.google.com/gke-accelerator" = local.accelerator_type } : {},
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

  # kube-env: what the cluster autoscaler's GCE provider reads from the instance template to
  # build a node of an empty group (labels, taints, extended resources, operating system).
  autoscaler_env = join(";", compact([
    "os=linux",
    "os_distribution=ubuntu",
    "arch=amd64",
    "node_labels=${join(",", [for key in sort(keys(local.node_labels)) : "${key}=${local.node_labels[key]}"])}",
    "node_taints=${join(",", [for taint in local.node_taints : "${taint.key}=${taint.value}:${taint.effect}"])}",
    local.device_gpus && length(var.pool.gpu_resources) > 0 ? "extended_resources=${join(",", [for name in sort(keys(var.pool.gpu_resources)) : "${name}=${var.pool.gpu_resources[name]}"])}" : "",
  ]))

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

  reservation = var.pool.capacity_reservation
}

################################################################################
# Compact placement for high-speed networking
################################################################################

resource "google_compute_resource_policy" "this" {
  count = var.pool.high_speed_networking ? 1 : 0

  project = var.project_id
  name    = local.name
  region  = join("-", slice(split("-", var.zone), 0, 2))

  group_placement_policy {
    collocation = "COLLOCATED"
  }
}

################################################################################
# Instance template
################################################################################

resource "google_compute_instance_template" "this" {
  project      = var.project_id
  name_prefix  = "${substr(local.name, 0, 36)}-"
  description  = "Node pool ${var.pool_name} of ${var.cluster_name}."
  machine_type = var.pool.machine_type
  tags         = [var.network_tag]
  labels = merge(var.labels, {
    "aicluster_io_pool" = var.pool_name
    "aicluster_io_role" = "node"
  })

  can_ip_forward    = false
  resource_policies = google_compute_resource_policy.this[*].self_link

  disk {
    boot         = true
    auto_delete  = true
    source_image = var.image
    disk_size_gb = var.pool.disk_size_gb
    disk_type    = local.disk_type
    labels       = var.labels

    dynamic "disk_encryption_key" {
      for_each = var.disk_kms_key == null ? [] : [var.disk_kms_key]

      content {
        kms_key_self_link = disk_encryption_key.value
      }
    }
  }

  network_interface {
    subnetwork = var.subnetwork
    nic_type   = var.pool.high_speed_networking ? "GVNIC" : null
  }

  dynamic "guest_accelerator" {
    for_each = local.attach_accelerator && local.accelerator_type != null ? [local.accelerator_type] : []

    content {
      type  = guest_accelerator.value
      count = var.pool.gpus_per_node
    }
  }

  scheduling {
    # GPU machines cannot live-migrate.
    on_host_maintenance = local.gpu ? "TERMINATE" : "MIGRATE"
    automatic_restart   = true
    provisioning_model  = "STANDARD"
  }

  dynamic "reservation_affinity" {
    for_each = local.reservation == null ? [] : [local.reservation]

    content {
      type = reservation_affinity.value.id == null ? "ANY_RESERVATION" : "SPECIFIC_RESERVATION"

      dynamic "specific_reservation" {
        for_each = reservation_affinity.value.id == null ? [] : [reservation_affinity.value.id]

        content {
          key    = "compute.googleapis.com/reservation-name"
          values = [specific_reservation.value]
        }
      }
    }
  }

  metadata = {
    ssh-keys               = "${var.ssh_user}:${var.ssh_public_key}"
    block-project-ssh-keys = "true"
    enable-oslogin         = "FALSE"
    serial-port-enable     = "false"
    kube-env               = yamlencode({ AUTOSCALER_ENV_VARS = local.autoscaler_env })
    startup-script = templatefile("${path.module}/templates/join.sh.tftpl", {
      project_id         = var.project_id
      secret_id          = var.join_secret_id
      join_configuration = base64encode(jsonencode(local.join_configuration))
    })
  }

  service_account {
    email  = var.service_account
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = var.secure_boot
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Managed instance group (zonal: the cluster autoscaler's GCE provider scales zonal groups)
################################################################################

resource "google_compute_instance_group_manager" "this" {
  project            = var.project_id
  name               = local.name
  zone               = var.zone
  base_instance_name = local.name
  description        = "Node pool ${var.pool_name} of ${var.cluster_name}, between ${var.pool.min_size} and ${var.pool.max_size} machines."
  target_size        = var.pool.desired_size

  version {
    name              = "primary"
    instance_template = google_compute_instance_template.this.self_link_unique
  }

  # A changed template reaches machines as they are replaced, never all at once.
  update_policy {
    type                  = "OPPORTUNISTIC"
    minimal_action        = "REPLACE"
    max_surge_fixed       = 0
    max_unavailable_fixed = 1
  }

  wait_for_instances        = var.pool.desired_size > 0
  wait_for_instances_status = "STABLE"

  timeouts {
    create = "30m"
    update = "30m"
  }

  lifecycle {
    # The cluster autoscaler owns the size once the group exists.
    ignore_changes = [target_size]
  }
}

# The machines that exist now; the instance URL names each machine's zone and name.
data "google_compute_instance_group" "this" {
  self_link = google_compute_instance_group_manager.this.instance_group
}
