################################################################################
# Machines
################################################################################

resource "aws_instance" "this" {
  count = var.instance_count

  ami                    = var.image_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[count.index % length(var.subnet_ids)]
  vpc_security_group_ids = [var.security_group_id]
  iam_instance_profile   = var.instance_profile_name
  key_name               = var.key_name
  monitoring             = true
  ebs_optimized          = true

  associate_public_ip_address = false

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_hop_limit
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.disk_size_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = "${var.name}-control-plane-${count.index}", "aicluster.io/role" = "control-plane" })
  volume_tags = merge(var.tags, { Name = "${var.name}-control-plane-${count.index}" })

  lifecycle {
    # A newer image of the default AMI search must not replace a control-plane machine.
    ignore_changes = [ami]
  }
}

################################################################################
# API load balancer
################################################################################

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:TCP passthrough to kube-apiserver, whose audit log records every request; NLB access logs would need a log bucket of their own.
  #checkov:skip=CKV_AWS_150:The teardown must remove the load balancer with the cluster; deletion protection would block terraform destroy.
  name_prefix        = "k8s-"
  load_balancer_type = "network"
  internal           = false
  subnets            = var.lb_subnet_ids
  security_groups    = [var.lb_security_group_id]

  enable_cross_zone_load_balancing = true

  tags = merge(var.tags, { Name = "${var.name}-api" })
}

resource "aws_lb_target_group" "this" {
  name_prefix = "k8s-"
  port        = 6443
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id

  # Without client IP preservation a control-plane machine can reach the API through the
  # load balancer even when the load balancer picks that same machine.
  preserve_client_ip   = false
  deregistration_delay = 30

  health_check {
    protocol            = "HTTPS"
    port                = "6443"
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_target_group_attachment" "this" {
  count = var.instance_count

  target_group_arn = aws_lb_target_group.this.arn
  target_id        = aws_instance.this[count.index].id
  port             = 6443
}

resource "aws_lb_listener" "this" {
  load_balancer_arn = aws_lb.this.arn
  port              = 6443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}
