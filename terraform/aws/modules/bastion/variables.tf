################################################################################
# Bastion
################################################################################

variable "create" {
  description = "Create the bastion (false when every host is reached another way)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of every resource (the cluster name)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "image_id" {
  description = "AMI of the bastion."
  type        = string
}

variable "subnet_id" {
  description = "Public subnet of the bastion."
  type        = string
}

variable "security_group_id" {
  description = "Security group of the bastion (SSH from the admin ranges only)."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair installed for the login user."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
