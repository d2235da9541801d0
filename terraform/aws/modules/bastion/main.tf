################################################################################
# Bastion
################################################################################

resource "aws_instance" "this" {
  count = var.create ? 1 : 0

  #checkov:skip=CKV2_AWS_41:The bastion only forwards SSH; it calls no AWS API, so it gets no instance role.
  ami                    = var.image_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.security_group_id]
  key_name               = var.key_name
  monitoring             = true
  ebs_optimized          = true

  associate_public_ip_address = false

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = 20
    encrypted             = true
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = "${var.name}-bastion" })
  volume_tags = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    # A newer image of the default AMI search must not replace a running bastion.
    ignore_changes = [ami]
  }
}

# A stable public address: the bastion_host of the outputs survives a stop and start.
resource "aws_eip" "this" {
  count = var.create ? 1 : 0

  domain   = "vpc"
  instance = aws_instance.this[0].id

  tags = merge(var.tags, { Name = "${var.name}-bastion" })
}
