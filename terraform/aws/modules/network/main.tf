data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  zone_count = length(var.zones)
  nat_count  = var.single_nat_gateway ? 1 : local.zone_count

  # Private subnets take the first eighths of the range, public subnets share the last one.
  private_cidrs = [for index in range(local.zone_count) : cidrsubnet(var.cidr, 3, index)]
  public_cidrs  = [for index in range(local.zone_count) : cidrsubnet(cidrsubnet(var.cidr, 3, 7), 3, index)]

  cluster_tag = { "kubernetes.io/cluster/${var.name}" = "owned" }
}

################################################################################
# VPC
################################################################################

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# The default security group of the VPC allows nothing; every member uses the groups below.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

################################################################################
# Subnets
################################################################################

resource "aws_subnet" "public" {
  count = local.zone_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = var.zones[count.index]
  cidr_block              = local.public_cidrs[count.index]
  map_public_ip_on_launch = false

  tags = merge(var.tags, local.cluster_tag, {
    Name                     = "${var.name}-public-${var.zones[count.index]}"
    "kubernetes.io/role/elb" = "1"
  })
}

resource "aws_subnet" "private" {
  count = local.zone_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = var.zones[count.index]
  cidr_block              = local.private_cidrs[count.index]
  map_public_ip_on_launch = false

  # Host names are instance ids, so a node's Kubernetes name is its instance id.
  private_dns_hostname_type_on_launch = "resource-name"

  tags = merge(var.tags, local.cluster_tag, {
    Name                              = "${var.name}-private-${var.zones[count.index]}"
    "kubernetes.io/role/internal-elb" = "1"
  })
}

################################################################################
# Routing
################################################################################

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${var.zones[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge(var.tags, { Name = "${var.name}-${var.zones[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = local.zone_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count = local.zone_count

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${var.zones[count.index]}" })
}

resource "aws_route" "private_nat" {
  count = local.zone_count

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[min(count.index, local.nat_count - 1)].id
}

resource "aws_route_table_association" "private" {
  count = local.zone_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

################################################################################
# Flow logs
################################################################################

data "aws_iam_policy_document" "flow_logs_key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource "*" is the key itself; the account statement is AWS's default key policy, without which the key cannot be managed.
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is the key itself; CloudWatch Logs may use it only for this VPC's flow log group (condition).
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" is the key itself, not every resource.
  count = var.enable_flow_logs ? 1 : 0

  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/aicluster/${var.name}/vpc-flow-logs"]
    }
  }
}

resource "aws_kms_key" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  description             = "Encrypts the VPC flow logs of ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.flow_logs_key[0].json

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name              = "/aicluster/${var.name}/vpc-flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.flow_logs[0].arn

  tags = var.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name_prefix        = "${var.name}-flow-logs-"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume[0].json

  tags = var.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn

  tags = merge(var.tags, { Name = var.name })
}

################################################################################
# Security groups
################################################################################

resource "aws_security_group" "bastion" {
  #checkov:skip=CKV2_AWS_5:Attached in modules/bastion through this module's outputs, which checkov's graph does not follow.
  name_prefix = "${var.name}-bastion-"
  description = "SSH bastion of ${var.name}: SSH from the admin ranges, SSH out to the VPC"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "api_lb" {
  #checkov:skip=CKV2_AWS_5:Attached in modules/control_plane (the load balancer) through this module's outputs, which checkov's graph does not follow.
  name_prefix = "${var.name}-api-lb-"
  description = "Kubernetes API load balancer of ${var.name}: 6443 from the admin ranges and the cluster's NAT addresses"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-api-lb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "control_plane" {
  #checkov:skip=CKV2_AWS_5:Attached in modules/control_plane through this module's outputs, which checkov's graph does not follow.
  name_prefix = "${var.name}-control-plane-"
  description = "Control-plane machines of ${var.name}"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, local.cluster_tag, { Name = "${var.name}-control-plane" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "nodes" {
  #checkov:skip=CKV2_AWS_5:Attached in modules/node_pool through this module's outputs, which checkov's graph does not follow.
  name_prefix = "${var.name}-nodes-"
  description = "Worker nodes of ${var.name}"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, local.cluster_tag, { Name = "${var.name}-nodes" })

  lifecycle {
    create_before_destroy = true
  }
}

# EFA's OS-bypass traffic needs every protocol between the interfaces of the group.
resource "aws_security_group" "efa" {
  #checkov:skip=CKV2_AWS_5:Attached in modules/node_pool (EFA interfaces) through this module's outputs, which checkov's graph does not follow.
  count = var.create_efa_security_group ? 1 : 0

  name_prefix = "${var.name}-efa-"
  description = "EFA interfaces of ${var.name}: all traffic among members only"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-efa" })

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  cni_ports = {
    cilium = [
      { name = "vxlan", protocol = "udp", from = 8472, to = 8472 },
      { name = "health", protocol = "tcp", from = 4240, to = 4240 },
      { name = "hubble", protocol = "tcp", from = 4244, to = 4244 },
    ]
    calico = [
      { name = "bgp", protocol = "tcp", from = 179, to = 179 },
      { name = "vxlan", protocol = "udp", from = 4789, to = 4789 },
      { name = "typha", protocol = "tcp", from = 5473, to = 5473 },
    ]
    flannel = [
      { name = "vxlan", protocol = "udp", from = 8472, to = 8472 },
    ]
  }

  members = {
    control_plane = aws_security_group.control_plane.id
    nodes         = aws_security_group.nodes.id
  }

  # Rules between groups: key => {group, source group, protocol, ports, description}.
  group_ingress = merge(
    {
      api_lb_to_control_plane = { group = "control_plane", source = aws_security_group.api_lb.id, protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API from the load balancer (traffic and health checks)" }
      bastion_ssh_control     = { group = "control_plane", source = aws_security_group.bastion.id, protocol = "tcp", from = 22, to = 22, description = "SSH from the bastion" }
      bastion_ssh_nodes       = { group = "nodes", source = aws_security_group.bastion.id, protocol = "tcp", from = 22, to = 22, description = "SSH from the bastion" }
      etcd_peers              = { group = "control_plane", source = aws_security_group.control_plane.id, protocol = "tcp", from = 2379, to = 2380, description = "etcd clients and peers, control plane only" }
    },
    merge([
      for source_name, source_id in local.members : {
        "api_from_${source_name}" = { group = "control_plane", source = source_id, protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API from cluster members (the kubernetes Service)" }
      }
    ]...),
    merge(flatten([
      for group_name, group_id in local.members : [
        for source_name, source_id in local.members : merge(
          {
            "kubelet_${group_name}_from_${source_name}" = { group = group_name, source = source_id, protocol = "tcp", from = 10250, to = 10250, description = "kubelet API from cluster members" }
          },
          {
            for port in local.cni_ports[var.cni] : "cni_${port.name}_${group_name}_from_${source_name}" => {
              group = group_name, source = source_id, protocol = port.protocol, from = port.from, to = port.to, description = "${var.cni} ${port.name} between cluster members"
            }
          }
        )
      ]
    ])...),
  )

  cidr_ingress = merge(
    { for index, cidr in var.admin_cidrs : "bastion_ssh_admin_${index}" => { group = aws_security_group.bastion.id, cidr = cidr, protocol = "tcp", from = 22, to = 22, description = "SSH from an admin range" } },
    { for index, cidr in var.admin_cidrs : "api_lb_admin_${index}" => { group = aws_security_group.api_lb.id, cidr = cidr, protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API from an admin range" } },
    # Members reach the public API endpoint (the join and kubelet address) through the NAT gateways.
    { for index in range(local.nat_count) : "api_lb_nat_${index}" => { group = aws_security_group.api_lb.id, cidr = "${aws_eip.nat[index].public_ip}/32", protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API from the cluster's NAT address" } },
    { for protocol in ["tcp", "udp"] : "nodeports_${protocol}" => { group = aws_security_group.nodes.id, cidr = var.cidr, protocol = protocol, from = 30000, to = 32767, description = "NodePort services from inside the VPC only" } },
  )

  egress = merge(
    {
      bastion_ssh_vpc    = { group = aws_security_group.bastion.id, cidr = var.cidr, source = null, protocol = "tcp", from = 22, to = 22, description = "SSH to the VPC's machines" }
      api_lb_to_backends = { group = aws_security_group.api_lb.id, cidr = null, source = aws_security_group.control_plane.id, protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API to the control plane" }
    },
    merge([
      for group_name, group_id in local.members : {
        "${group_name}_vpc"   = { group = group_id, cidr = var.cidr, source = null, protocol = "-1", from = null, to = null, description = "Everything inside the VPC" }
        "${group_name}_https" = { group = group_id, cidr = "0.0.0.0/0", source = null, protocol = "tcp", from = 443, to = 443, description = "HTTPS out: registries, the API endpoint, AWS APIs" }
        "${group_name}_http"  = { group = group_id, cidr = "0.0.0.0/0", source = null, protocol = "tcp", from = 80, to = 80, description = "HTTP out: OS package mirrors" }
        "${group_name}_api"   = { group = group_id, cidr = "0.0.0.0/0", source = null, protocol = "tcp", from = 6443, to = 6443, description = "Kubernetes API on its public endpoint" }
      }
    ]...),
  )
}

resource "aws_vpc_security_group_ingress_rule" "group" {
  for_each = local.group_ingress

  security_group_id            = local.members[each.value.group]
  referenced_security_group_id = each.value.source
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from
  to_port                      = each.value.to
  description                  = each.value.description

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "cidr" {
  for_each = local.cidr_ingress

  security_group_id = each.value.group
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.from
  to_port           = each.value.to
  description       = each.value.description

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = local.egress

  security_group_id            = each.value.group
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.source
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from
  to_port                      = each.value.to
  description                  = each.value.description

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "efa" {
  count = var.create_efa_security_group ? 1 : 0

  security_group_id            = aws_security_group.efa[0].id
  referenced_security_group_id = aws_security_group.efa[0].id
  ip_protocol                  = "-1"
  description                  = "EFA traffic among EFA interfaces"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "efa" {
  count = var.create_efa_security_group ? 1 : 0

  security_group_id            = aws_security_group.efa[0].id
  referenced_security_group_id = aws_security_group.efa[0].id
  ip_protocol                  = "-1"
  description                  = "EFA traffic among EFA interfaces"

  tags = var.tags
}
