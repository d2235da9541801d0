################################################################################
# Bastion: the only machine with a public address; SSH from admin_cidrs only
################################################################################

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = "${substr(var.name, 0, 22)}-bastion"
  display_name = "${var.name} bastion"
  description  = "Bastion of ${var.name}; holds no role."
}

resource "google_compute_address" "this" {
  project      = var.project_id
  name         = "${var.name}-bastion"
  region       = join("-", slice(split("-", var.zone), 0, 2))
  address_type = "EXTERNAL"
  labels       = var.labels
}

resource "google_compute_instance" "this" {
  #checkov:skip=CKV_GCP_40:The bastion is the single SSH entry point and needs a public address; its firewall rule admits admin_cidrs only.
  project      = var.project_id
  name         = "${var.name}-bastion"
  zone         = var.zone
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = var.labels

  boot_disk {
    auto_delete       = true
    kms_key_self_link = var.disk_kms_key

    initialize_params {
      image  = var.image
      size   = 20
      type   = "pd-balanced"
      labels = var.labels
    }
  }

  network_interface {
    subnetwork = var.subnetwork

    access_config {
      nat_ip = google_compute_address.this.address
    }
  }

  metadata = {
    ssh-keys               = "${var.ssh_user}:${var.ssh_public_key}"
    block-project-ssh-keys = "true"
    enable-oslogin         = "FALSE"
    serial-port-enable     = "false"
  }

  service_account {
    email  = google_service_account.this.email
    scopes = ["https://www.googleapis.com/auth/logging.write", "https://www.googleapis.com/auth/monitoring.write"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }
}
