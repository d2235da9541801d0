locals {
  # Service account ids are 6 to 30 characters and end with a letter or digit.
  account_prefix = substr(var.name, 0, 22)
  # Custom role ids allow letters, digits, underscores and dots only.
  role_prefix = replace(var.name, "-", "_")

  logging_roles = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]

  # What the cluster autoscaler's GCE provider reads to discover and model node groups.
  autoscaler_read_permissions = [
    "compute.instanceGroupManagers.get",
    "compute.instanceGroupManagers.list",
    "compute.instanceGroups.get",
    "compute.instanceGroups.list",
    "compute.instanceTemplates.get",
    "compute.instanceTemplates.list",
    "compute.instances.get",
    "compute.instances.list",
    "compute.machineTypes.get",
    "compute.machineTypes.list",
    "compute.zones.get",
    "compute.zones.list",
    "compute.regions.get",
    "compute.zoneOperations.get",
  ]

  # What it changes: a group's size, and the instances it removes from a group.
  autoscaler_write_permissions = [
    "compute.instanceGroupManagers.update",
    "compute.instances.delete",
  ]
}

################################################################################
# Service accounts: one for the control plane, one for the nodes
################################################################################

resource "google_service_account" "control_plane" {
  project      = var.project_id
  account_id   = "${local.account_prefix}-control"
  display_name = "${var.name} control plane"
  description  = "Control-plane machines of ${var.name}: logs, metrics, join-secret versions and the cluster autoscaler."
}

resource "google_service_account" "node" {
  project      = var.project_id
  account_id   = "${local.account_prefix}-nodes"
  display_name = "${var.name} nodes"
  description  = "Node machines of ${var.name}: logs, metrics and reading the join secret."
}

resource "google_project_iam_member" "control_plane_logging" {
  for_each = toset(local.logging_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.control_plane.email}"
}

resource "google_project_iam_member" "node_logging" {
  for_each = toset(local.logging_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.node.email}"
}

################################################################################
# Join material: the container only; the configure stage adds its versions
################################################################################

resource "google_secret_manager_secret" "join" {
  project   = var.project_id
  secret_id = "${var.name}-node-join"
  labels    = var.labels

  replication {
    user_managed {
      replicas {
        location = var.region

        dynamic "customer_managed_encryption" {
          for_each = var.secret_kms_key == null ? [] : [var.secret_kms_key]

          content {
            kms_key_name = customer_managed_encryption.value
          }
        }
      }
    }
  }
}

resource "google_secret_manager_secret_iam_member" "node_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.join.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.node.email}"
}

# The control plane may add versions, so that it can rotate the bootstrap token itself.
resource "google_secret_manager_secret_iam_member" "control_plane_version_adder" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.join.secret_id
  role      = "roles/secretmanager.secretVersionAdder"
  member    = "serviceAccount:${google_service_account.control_plane.email}"
}

################################################################################
# Cluster autoscaler: read the project's groups, change only this cluster's
################################################################################

resource "google_project_iam_custom_role" "autoscaler_read" {
  project     = var.project_id
  role_id     = "${local.role_prefix}_autoscaler_read"
  title       = "${var.name} cluster autoscaler (read)"
  description = "Lists and reads instance groups, templates and machine types for the cluster autoscaler of ${var.name}."
  permissions = local.autoscaler_read_permissions
}

resource "google_project_iam_custom_role" "autoscaler_write" {
  project     = var.project_id
  role_id     = "${local.role_prefix}_autoscaler_write"
  title       = "${var.name} cluster autoscaler (resize)"
  description = "Resizes the node groups of ${var.name} and deletes the instances the autoscaler removes from them."
  permissions = local.autoscaler_write_permissions
}

resource "google_project_iam_member" "autoscaler_read" {
  project = var.project_id
  role    = google_project_iam_custom_role.autoscaler_read.name
  member  = "serviceAccount:${google_service_account.control_plane.email}"
}

# Limited by name to this cluster's node groups and their instances: every node group
# and node instance name starts with "<cluster name>-np-".
resource "google_project_iam_member" "autoscaler_write" {
  project = var.project_id
  role    = google_project_iam_custom_role.autoscaler_write.name
  member  = "serviceAccount:${google_service_account.control_plane.email}"

  condition {
    title       = "${var.name}-node-groups"
    description = "Only the node groups and node instances of ${var.name}."
    expression  = "resource.name.extract(\"/instanceGroupManagers/{name}\").startsWith(\"${var.name}-np-\") || resource.name.extract(\"/instances/{name}\").startsWith(\"${var.name}-np-\")"
  }
}
