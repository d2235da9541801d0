locals {
  control_plane_tag = "${var.name}-control-plane"
  node_tag          = "${var.name}-node"
  bastion_tag       = "${var.name}-bastion"
  members           = [local.control_plane_tag, local.node_tag]

  # Google's health checkers for backend-service-based passthrough load balancers.
  health_check_ranges = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
  nat_cidrs           = [for address in google_compute_address.nat : "${address.address}/32"]

  subnets = {
    nodes         = cidrsubnet(var.network_cidr, 1, 0)
    control-plane = cidrsubnet(var.network_cidr, 4, 8)
  }
}

################################################################################
# VPC and subnets
################################################################################

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = var.name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

# GCP subnets are regional: each one serves every zone of the region.
resource "google_compute_subnetwork" "this" {
  for_each = local.subnets

  project                  = var.project_id
  name                     = "${var.name}-${each.key}"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = each.value
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_SEC"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

################################################################################
# Cloud NAT: outbound access for machines without public addresses
################################################################################

resource "google_compute_router" "this" {
  project = var.project_id
  name    = var.name
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_address" "nat" {
  count = var.nat_ip_count

  project      = var.project_id
  name         = "${var.name}-nat-${count.index}"
  region       = var.region
  address_type = "EXTERNAL"
  labels       = var.labels
}

resource "google_compute_router_nat" "this" {
  project                            = var.project_id
  name                               = var.name
  region                             = var.region
  router                             = google_compute_router.this.name
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = google_compute_address.nat[*].self_link
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

################################################################################
# Firewall: only what Kubernetes needs among the cluster's machines
################################################################################

resource "google_compute_firewall" "api" {
  project     = var.project_id
  name        = "${var.name}-api"
  network     = google_compute_network.this.id
  description = "Kubernetes API through the load balancer: administrators, the nodes' NAT addresses and Google's health checkers."
  direction   = "INGRESS"

  source_ranges = concat(var.admin_cidrs, local.nat_cidrs, local.health_check_ranges)
  target_tags   = [local.control_plane_tag]

  allow {
    protocol = "tcp"
    ports    = ["6443"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "api_internal" {
  project     = var.project_id
  name        = "${var.name}-api-internal"
  network     = google_compute_network.this.id
  description = "Kubernetes API from cluster members (the kubernetes Service's endpoints are the control-plane addresses)."
  direction   = "INGRESS"

  source_tags = local.members
  target_tags = [local.control_plane_tag]

  allow {
    protocol = "tcp"
    ports    = ["6443"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "etcd" {
  project     = var.project_id
  name        = "${var.name}-etcd"
  network     = google_compute_network.this.id
  description = "etcd client and peer ports among control-plane machines only."
  direction   = "INGRESS"

  source_tags = [local.control_plane_tag]
  target_tags = [local.control_plane_tag]

  allow {
    protocol = "tcp"
    ports    = ["2379-2380"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "kubelet" {
  project     = var.project_id
  name        = "${var.name}-kubelet"
  network     = google_compute_network.this.id
  description = "Kubelet API among cluster members (logs, exec, metrics)."
  direction   = "INGRESS"

  source_tags = local.members
  target_tags = local.members

  allow {
    protocol = "tcp"
    ports    = ["10250"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "node_ports" {
  project     = var.project_id
  name        = "${var.name}-node-ports"
  network     = google_compute_network.this.id
  description = "NodePort Services, from inside the network only."
  direction   = "INGRESS"

  source_ranges = [var.network_cidr]
  target_tags   = [local.node_tag]

  allow {
    protocol = "tcp"
    ports    = ["30000-32767"]
  }

  allow {
    protocol = "udp"
    ports    = ["30000-32767"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "cni" {
  project     = var.project_id
  name        = "${var.name}-cni"
  network     = google_compute_network.this.id
  description = "Pod network (overlay and CNI health ports) and ICMP among cluster members."
  direction   = "INGRESS"

  source_tags = local.members
  target_tags = local.members

  dynamic "allow" {
    for_each = length(var.cni_ports.tcp) > 0 ? [var.cni_ports.tcp] : []

    content {
      protocol = "tcp"
      ports    = allow.value
    }
  }

  dynamic "allow" {
    for_each = length(var.cni_ports.udp) > 0 ? [var.cni_ports.udp] : []

    content {
      protocol = "udp"
      ports    = allow.value
    }
  }

  allow {
    protocol = "icmp"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "ssh_bastion" {
  project     = var.project_id
  name        = "${var.name}-ssh-bastion"
  network     = google_compute_network.this.id
  description = "SSH to the bastion from the administrators' ranges."
  direction   = "INGRESS"

  source_ranges = var.admin_cidrs
  target_tags   = [local.bastion_tag]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "ssh_internal" {
  project     = var.project_id
  name        = "${var.name}-ssh-internal"
  network     = google_compute_network.this.id
  description = "SSH to cluster members from the bastion only."
  direction   = "INGRESS"

  source_tags = [local.bastion_tag]
  target_tags = local.members

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
