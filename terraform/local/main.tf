# The local target's "machines". Like an autoscaling group on a cloud, each node pool
# is one resource whose members are the simulated nodes it starts with; Terraform
# plans and records them as it does a cloud target's pools. The control plane
# processes and the Node objects are brought up by the configure stage from the
# outputs.

resource "terraform_data" "control_plane" {
  input = {
    name               = "${var.cluster_name}-control-plane"
    kubernetes_version = var.kubernetes_version
    tags               = var.tags
  }
}

resource "terraform_data" "node_pool" {
  for_each = var.node_pools

  input = {
    name         = each.key
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
    nodes        = [for index in range(each.value.desired_size) : format("%s-%s-%d", var.cluster_name, each.key, index)]
    tags         = merge(var.tags, { "aicluster.io/pool" = each.key })
  }
}
