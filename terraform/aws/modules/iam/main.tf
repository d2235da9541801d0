data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  partition           = data.aws_partition.current.partition
  account_id          = data.aws_caller_identity.current.account_id
  region              = data.aws_region.current.name
  join_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.join_parameter_name}"
  cluster_asgs_arn    = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.name}-*"
  ec2_assume_services = ["ec2.amazonaws.com"]
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = local.ec2_assume_services
    }
  }
}

################################################################################
# Node role
################################################################################

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-node-"
  description        = "Worker nodes of ${var.name}: read the join material"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

# Nodes read the join material; the parameter uses the account's aws/ssm key, whose key
# policy lets SSM decrypt for any principal of the account that may read the parameter.
data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ReadJoinMaterial"
    actions   = ["ssm:GetParameter"]
    resources = [local.join_parameter_arn]
  }
}

resource "aws_iam_role_policy" "node" {
  name   = "read-join-material"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-node-"
  role        = aws_iam_role.node.name

  tags = var.tags
}

################################################################################
# Control-plane role
################################################################################

resource "aws_iam_role" "control_plane" {
  name_prefix        = "${var.name}-cp-"
  description        = "Control plane of ${var.name}: writes the join material, runs the cluster autoscaler"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

# The configure stage (or a token-rotation job on the control plane) writes the join material.
data "aws_iam_policy_document" "control_plane" {
  statement {
    sid       = "WriteJoinMaterial"
    actions   = ["ssm:PutParameter", "ssm:GetParameter", "ssm:AddTagsToResource"]
    resources = [local.join_parameter_arn]
  }
}

resource "aws_iam_role_policy" "control_plane" {
  name   = "write-join-material"
  role   = aws_iam_role.control_plane.id
  policy = data.aws_iam_policy_document.control_plane.json
}

resource "aws_iam_instance_profile" "control_plane" {
  name_prefix = "${var.name}-cp-"
  role        = aws_iam_role.control_plane.name

  tags = var.tags
}

################################################################################
# Cluster autoscaler
################################################################################

data "aws_iam_policy_document" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  # Read-only discovery; these actions support no resource-level restriction.
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  # Scaling only on this cluster's groups, and only those tagged for its autoscaler.
  statement {
    sid       = "ScaleOwnGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = [local.cluster_asgs_arn]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.name}"
      values   = ["owned"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled"
      values   = ["true"]
    }
  }
}

resource "aws_iam_policy" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  name_prefix = "${var.name}-cluster-autoscaler-"
  description = "Cluster autoscaler of ${var.name}: scales only the groups tagged for this cluster"
  policy      = data.aws_iam_policy_document.cluster_autoscaler[0].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster_autoscaler" {
  count = var.enable_cluster_autoscaler ? 1 : 0

  role       = aws_iam_role.control_plane.name
  policy_arn = aws_iam_policy.cluster_autoscaler[0].arn
}
