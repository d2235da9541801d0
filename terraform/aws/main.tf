# The AWS target: a VPC, an SSH bastion, a kubeadm-ready control plane behind a network load
# balancer, and one autoscaling group per node pool. Kubernetes itself is installed by the
# configure stage from the outputs (terraform/OUTPUTS.md); nodes that the cluster autoscaler
# adds later join by themselves through their user data.

provider "aws" {
  region = var.region
}

locals {
  tags = merge(var.tags, { "aicluster.io/cluster" = var.cluster_name })

  # SecureString that the configure stage writes: {"token": ..., "ca_cert_hash": "sha256:..."}.
  join_parameter_name = "/aicluster/${var.cluster_name}/node-join"

  uses_efa = anytrue([for pool in var.node_pools : pool.high_speed_networking])
}

################################################################################
# Image and key
################################################################################

data "aws_ami" "this" {
  most_recent = true
  owners      = var.os_image == null ? ["099720109477"] : null

  filter {
    name   = var.os_image == null ? "name" : "image-id"
    values = [var.os_image == null ? "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*" : var.os_image]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_key_pair" "this" {
  key_name_prefix = "${var.cluster_name}-"
  public_key      = trimspace(var.ssh_public_key)

  tags = local.tags
}

################################################################################
# Network
################################################################################

module "network" {
  source = "./modules/network"

  name                      = var.cluster_name
  cidr                      = var.network_cidr
  zones                     = var.zones
  admin_cidrs               = var.admin_cidrs
  single_nat_gateway        = var.single_nat_gateway
  cni                       = var.cni
  create_efa_security_group = local.uses_efa
  flow_log_retention_days   = var.flow_log_retention_days

  tags = local.tags
}

module "bastion" {
  source = "./modules/bastion"

  name              = var.cluster_name
  instance_type     = var.bastion_instance_type
  image_id          = data.aws_ami.this.id
  subnet_id         = module.network.public_subnet_ids[0]
  security_group_id = module.network.bastion_security_group_id
  key_name          = aws_key_pair.this.key_name

  tags = local.tags
}

################################################################################
# Identity
################################################################################

module "iam" {
  source = "./modules/iam"

  name                = var.cluster_name
  join_parameter_name = local.join_parameter_name

  tags = local.tags
}

################################################################################
# Control plane
################################################################################

module "control_plane" {
  source = "./modules/control_plane"

  name                  = var.cluster_name
  instance_count        = var.control_plane.count
  instance_type         = var.control_plane.machine_type
  disk_size_gb          = var.control_plane.disk_size_gb
  image_id              = data.aws_ami.this.id
  subnet_ids            = module.network.private_subnet_ids
  security_group_id     = module.network.control_plane_security_group_id
  instance_profile_name = module.iam.control_plane_instance_profile_name
  key_name              = aws_key_pair.this.key_name
  vpc_id                = module.network.vpc_id
  lb_subnet_ids         = module.network.public_subnet_ids
  lb_security_group_id  = module.network.api_lb_security_group_id

  tags = local.tags
}

################################################################################
# Node pools
################################################################################

module "node_pool" {
  source   = "./modules/node_pool"
  for_each = var.node_pools

  cluster_name          = var.cluster_name
  pool_name             = each.key
  instance_type         = each.value.machine_type
  min_size              = each.value.min_size
  max_size              = each.value.max_size
  desired_size          = each.value.desired_size
  disk_size_gb          = each.value.disk_size_gb
  gpu_product           = each.value.gpu_product
  gpus_per_node         = each.value.gpus_per_node
  gpu_access            = each.value.gpu_access
  gpu_resources         = each.value.gpu_resources
  gpu_labels            = each.value.gpu_labels
  labels                = each.value.labels
  taints                = each.value.taints
  high_speed_networking = each.value.high_speed_networking
  capacity_reservation  = each.value.capacity_reservation

  image_id              = data.aws_ami.this.id
  root_device_name      = data.aws_ami.this.root_device_name
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.network.nodes_security_group_id]
  efa_security_group_id = module.network.efa_security_group_id
  instance_profile_arn  = module.iam.node_instance_profile_arn
  key_name              = aws_key_pair.this.key_name

  api_endpoint        = "${module.control_plane.lb_dns_name}:6443"
  join_parameter_name = local.join_parameter_name
  region              = var.region

  tags = local.tags
}
