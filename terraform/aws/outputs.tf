# These outputs follow the contract in terraform/OUTPUTS.md, which the inventory stage reads
# for every target.

output "contract_version" {
  description = "Version of the outputs contract (terraform/OUTPUTS.md)."
  value       = 1
}

output "cluster_name" {
  description = "Name of the cluster."
  value       = var.cluster_name
}

output "target" {
  description = "Target that built the machines."
  value       = "aws"
}

output "kubernetes_version" {
  description = "Kubernetes release the configure stage installs."
  value       = var.kubernetes_version
}

output "api_endpoint" {
  description = "URL of the Kubernetes API through its network load balancer."
  value       = module.control_plane.api_endpoint
}

output "ssh" {
  description = "How Ansible reaches the hosts: the login user, through the bastion."
  value = {
    user         = var.ssh_user
    bastion_host = module.bastion.public_ip
  }
}

output "control_plane_hosts" {
  description = "Control-plane machines, named by instance id (their Kubernetes node name)."
  value = [
    for instance in module.control_plane.instances : {
      name       = instance.id
      address    = instance.private_ip
      connection = "ssh"
    }
  ]
}

output "node_pools" {
  description = "Every node pool with its GPU shape, sizes, labels, taints, instance type and autoscaling group."
  value = {
    for name, pool in var.node_pools : name => {
      gpu_product          = pool.gpu_product
      gpus_per_node        = pool.gpus_per_node
      gpu_access           = pool.gpu_access
      gpu_sharing_replicas = pool.gpu_sharing_replicas
      gpu_resources        = pool.gpu_resources
      gpu_mig              = pool.gpu_mig
      gpu_labels           = pool.gpu_labels
      min_size             = pool.min_size
      max_size             = pool.max_size
      desired_size         = pool.desired_size
      labels               = pool.labels
      taints               = pool.taints
      machine_type         = pool.machine_type
      autoscaling_group    = module.node_pool[name].autoscaling_group_name
    }
  }
}

output "nodes" {
  description = "Machines of the node pools that exist now (pending or running), named by instance id."
  value = flatten([
    for pool_name in sort(keys(module.node_pool)) : [
      for instance in module.node_pool[pool_name].instances : {
        name       = instance.id
        pool       = pool_name
        address    = instance.private_ip
        connection = "ssh"
      }
    ]
  ])
}

output "node_bootstrap" {
  description = "Where the configure stage writes the node join material: an SSM SecureString parameter."
  value = {
    secret_store = "aws-ssm"
    secret_name  = local.join_parameter_name
  }
}
