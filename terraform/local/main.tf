# The local target's "machines": every simulated node is a terraform_data
# resource, so that Terraform plans and records the local cluster exactly as it
# does the instances of a cloud target. The control plane processes and the
# Node objects are brought up by the configure stage from these outputs.

locals {
  nodes = merge([
    for pool_name, pool in var.node_pools : {
      for index in range(pool.desired_size) :
      format("%s-%s-%d", var.cluster_name, pool_name, index) => {
        pool  = pool_name
        index = index
      }
    }
  ]...)
}

resource "terraform_data" "control_plane" {
  input = {
    name               = "${var.cluster_name}-control-plane"
    kubernetes_version = var.kubernetes_version
    tags               = var.tags
  }
}

resource "terraform_data" "node" {
  for_each = local.nodes

  input = {
    name = each.key
    pool = each.value.pool
    tags = merge(var.tags, { "aicluster.io/pool" = each.value.pool })
  }
}
