locals {
  instances = {
    for index in range(var.instance_count) : format("%s-cp-%d", var.name, index) => var.zones[index % length(var.zones)]
  }
  zones_in_use = toset(values(local.instances))
}

################################################################################
# Control-plane machines (kubeadm init / join --control-plane run by the configure stage)
################################################################################

resource "google_compute_instance" "this" {
  for_each = local.instances

  project      = var.project_id
  name         = each.key
  zone         = each.value
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = merge(var.labels, { "aicluster_io_role" = "control-plane" })

  can_ip_forward = false

  boot_disk {
    auto_delete       = true
    kms_key_self_link = var.disk_kms_key

    initialize_params {
      image  = var.image
      size   = var.disk_size_gb
      type   = "pd-balanced"
      labels = var.labels
    }
  }

  network_interface {
    subnetwork = var.subnetwork
  }

  metadata = {
    ssh-keys               = "${var.ssh_user}:${var.ssh_public_key}"
    block-project-ssh-keys = "true"
    enable-oslogin         = "FALSE"
    serial-port-enable     = "false"
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

  scheduling {
    on_host_maintenance = "MIGRATE"
    automatic_restart   = true
  }
}

################################################################################
# API load balancer: regional external passthrough TCP load balancer on 6443
################################################################################

resource "google_compute_instance_group" "this" {
  for_each = local.zones_in_use

  project = var.project_id
  # The zone's letter keeps the name within 63 characters.
  name      = "${var.name}-cp-${element(split("-", each.value), 2)}"
  zone      = each.value
  instances = [for name, zone in local.instances : google_compute_instance.this[name].self_link if zone == each.value]

  named_port {
    name = "kube-apiserver"
    port = 6443
  }
}

resource "google_compute_region_health_check" "this" {
  project             = var.project_id
  name                = "${var.name}-api"
  region              = var.region
  check_interval_sec  = 5
  timeout_sec         = 5
  healthy_threshold   = 2
  unhealthy_threshold = 3

  # /readyz is readable anonymously (system:public-info-viewer) on a kubeadm cluster.
  https_health_check {
    port         = 6443
    request_path = "/readyz"
  }

  log_config {
    enable = true
  }
}

resource "google_compute_region_backend_service" "this" {
  project               = var.project_id
  name                  = "${var.name}-api"
  region                = var.region
  protocol              = "TCP"
  load_balancing_scheme = "EXTERNAL"
  health_checks         = [google_compute_region_health_check.this.id]

  dynamic "backend" {
    for_each = google_compute_instance_group.this

    content {
      group          = backend.value.id
      balancing_mode = "CONNECTION"
    }
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_address" "this" {
  project      = var.project_id
  name         = "${var.name}-api"
  region       = var.region
  address_type = "EXTERNAL"
  labels       = var.labels
}

resource "google_compute_forwarding_rule" "this" {
  project               = var.project_id
  name                  = "${var.name}-api"
  region                = var.region
  ip_address            = google_compute_address.this.address
  ip_protocol           = "TCP"
  port_range            = "6443"
  load_balancing_scheme = "EXTERNAL"
  backend_service       = google_compute_region_backend_service.this.id
  labels                = var.labels
}
