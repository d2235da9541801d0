locals {
  # Network cards that carry an EFA interface, per EFA-capable instance type of the GPU catalog.
  efa_interfaces_by_type = {
    "p4d.24xlarge"     = 4
    "p4de.24xlarge"    = 4
    "p5.48xlarge"      = 32
    "p5e.48xlarge"     = 32
    "p5en.48xlarge"    = 16
    "p6-b200.48xlarge" = 8
    "g4dn.12xlarge"    = 1
  }
  efa_count = var.high_speed_networking ? lookup(local.efa_interfaces_by_type, var.instance_type, 0) : 0

  # A reservation fixes where its instances run: forcing them into a placement group of ours as
  # well is what makes launches fail with InsufficientInstanceCapacity. So a reserved pool never
  # gets a placement group, and an EFA pool without a reservation gets a cluster placement group.
  reserved            = var.capacity_reservation != null
  capacity_block      = local.reserved && try(var.capacity_reservation.type, "") == "capacity-block"
  use_placement_group = var.high_speed_networking && !local.reserved
  single_zone         = var.high_speed_networking || local.reserved
  subnet_ids          = local.single_zone ? slice(var.subnet_ids, 0, 1) : var.subnet_ids

  name = "${var.cluster_name}-${var.pool_name}"

  gpu_pool = var.gpu_product != null && var.gpus_per_node > 0
  # The kubelet registers these; GPU Feature Discovery adds the nvidia.com/gpu.* labels later.
  # k8s.amazonaws.com/accelerator is the label the cluster autoscaler's AWS provider uses to
  # treat a node as a GPU node, so it waits for the GPUs to be advertised before scaling again.
  node_labels = merge(
    var.labels,
    { "aicluster.io/pool" = var.pool_name },
    local.gpu_pool ? { "k8s.amazonaws.com/accelerator" = lower(var.gpu_product) } : {},
  )
  # The kubelet may not set labels of the kubernetes.io and k8s.io namespaces other than
  # kubelet.kubernetes.io and node.kubernetes.io (NodeRestriction); the configure stage sets
  # those through the API. The node-template tags carry every label.
  kubelet_labels = {
    for key, value in local.node_labels : key => value
    if !can(regex("^([^/]*\\.)?(kubernetes\\.io|k8s\\.io)/", key)) || can(regex("^([^/]*\\.)?(kubelet|node)\\.kubernetes\\.io/", key))
  }
  template_labels = merge(local.node_labels, var.gpu_labels)

  # Node-template tags: what a node of this pool will offer, so the cluster autoscaler can
  # scale the group up from zero for pods that need GPUs, labels or tolerations.
  advertised_resources = local.gpu_pool && var.gpu_access == "device-plugin" ? var.gpu_resources : {}
  autoscaler_tags = merge(
    {
      "k8s.io/cluster-autoscaler/enabled"             = "true"
      "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
    },
    { for key, value in local.template_labels : "k8s.io/cluster-autoscaler/node-template/label/${key}" => value },
    { for taint in var.taints : "k8s.io/cluster-autoscaler/node-template/taint/${taint.key}" => "${taint.value}:${taint.effect}" },
    { for name, count in local.advertised_resources : "k8s.io/cluster-autoscaler/node-template/resources/${name}" => tostring(count) },
  )

  instance_tags = merge(var.tags, {
    Name                                        = local.name
    "aicluster.io/pool"                         = var.pool_name
    "kubernetes.io/cluster/${var.cluster_name}" = "owned"
  })
}

################################################################################
# Launch template
################################################################################

resource "aws_launch_template" "this" {
  count = var.create ? 1 : 0

  name_prefix            = "${local.name}-"
  description            = "Nodes of pool ${var.pool_name} of ${var.cluster_name}"
  image_id               = var.image_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  ebs_optimized          = true
  update_default_version = true

  user_data = base64encode(templatefile("${path.module}/templates/node-join.sh.tftpl", {
    cluster_name   = var.cluster_name
    pool_name      = var.pool_name
    region         = var.region
    parameter_name = var.join_parameter_name
    api_endpoint   = var.api_endpoint
    node_labels    = jsonencode(join(",", [for key in sort(keys(local.kubelet_labels)) : "${key}=${local.kubelet_labels[key]}"]))
    taints         = jsonencode([for taint in var.taints : { key = taint.key, value = taint.value, effect = taint.effect }])
  }))

  iam_instance_profile {
    arn = var.instance_profile_arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_hop_limit
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.disk_size_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  # One interface per EFA network card (the primary one on card 0), or one plain interface.
  dynamic "network_interfaces" {
    for_each = local.efa_count > 0 ? range(local.efa_count) : [0]

    content {
      device_index                = network_interfaces.value == 0 ? 0 : 1
      network_card_index          = local.efa_count > 0 ? network_interfaces.value : null
      interface_type              = local.efa_count > 0 ? "efa" : null
      associate_public_ip_address = false
      delete_on_termination       = true
      security_groups             = local.efa_count > 0 ? concat(var.security_group_ids, [var.efa_security_group_id]) : var.security_group_ids
    }
  }

  dynamic "instance_market_options" {
    for_each = local.capacity_block ? [1] : []

    content {
      market_type = "capacity-block"
    }
  }

  dynamic "capacity_reservation_specification" {
    for_each = local.reserved ? [var.capacity_reservation] : []

    content {
      capacity_reservation_preference = capacity_reservation_specification.value.id == null ? "open" : null

      dynamic "capacity_reservation_target" {
        for_each = capacity_reservation_specification.value.id == null ? [] : [capacity_reservation_specification.value.id]

        content {
          capacity_reservation_id = capacity_reservation_target.value
        }
      }
    }
  }

  dynamic "tag_specifications" {
    for_each = ["instance", "volume", "network-interface"]

    content {
      resource_type = tag_specifications.value
      tags          = local.instance_tags
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.high_speed_networking || local.efa_count > 0
      error_message = "high_speed_networking needs an EFA-capable instance type (${join(", ", sort(keys(local.efa_interfaces_by_type)))}); ${var.instance_type} is not one."
    }

    precondition {
      condition     = !var.high_speed_networking || var.efa_security_group_id != null
      error_message = "high_speed_networking needs efa_security_group_id."
    }
  }
}

################################################################################
# Placement group
################################################################################

resource "aws_placement_group" "this" {
  count = var.create && local.use_placement_group ? 1 : 0

  name     = local.name
  strategy = "cluster"

  tags = var.tags
}

################################################################################
# Autoscaling group
################################################################################

resource "aws_autoscaling_group" "this" {
  count = var.create ? 1 : 0

  name                = local.name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_size
  vpc_zone_identifier = local.subnet_ids
  placement_group     = try(aws_placement_group.this[0].id, null)

  health_check_type         = "EC2"
  health_check_grace_period = 300
  wait_for_capacity_timeout = var.wait_for_capacity_timeout
  # Zone rebalancing would terminate nodes behind the cluster autoscaler's back.
  suspended_processes = ["AZRebalance"]

  launch_template {
    id      = aws_launch_template.this[0].id
    version = aws_launch_template.this[0].latest_version
  }

  dynamic "tag" {
    for_each = local.instance_tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  dynamic "tag" {
    for_each = local.autoscaler_tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # After the first apply the cluster autoscaler owns the group's size.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = length(local.instance_tags) + length(local.autoscaler_tags) <= 50
      error_message = "An autoscaling group takes at most 50 tags; pool ${var.pool_name} needs ${length(local.instance_tags) + length(local.autoscaler_tags)} (tags, labels, GPU labels and taints)."
    }
  }
}

################################################################################
# Machines that exist now
################################################################################

data "aws_instances" "this" {
  count = var.create ? 1 : 0

  instance_tags = {
    "aws:autoscaling:groupName" = aws_autoscaling_group.this[0].name
  }
  instance_state_names = ["pending", "running"]

  # Read after the group has been created or changed, not before.
  depends_on = [aws_autoscaling_group.this]
}
