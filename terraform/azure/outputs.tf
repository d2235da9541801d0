# These outputs follow the contract in terraform/OUTPUTS.md, which the
# inventory stage reads for every target.

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
  value       = "azure"
}

output "kubernetes_version" {
  description = "Kubernetes release the configure stage installs."
  value       = var.kubernetes_version
}

output "api_endpoint" {
  description = "URL of the API server load balancer."
  value       = format("https://%s:6443", module.control_plane.api_address)
}

output "ssh" {
  description = "How Ansible reaches the hosts: the image's user, through the bastion."
  value = {
    user         = var.ssh_user
    bastion_host = try(module.bastion.public_address, null)
  }
}

output "control_plane_hosts" {
  description = "Hosts that run the control plane, with their private addresses."
  value = [
    for host in module.control_plane.hosts : {
      name       = host.name
      address    = host.address
      connection = "ssh"
    }
  ]
}

output "node_pools" {
  description = "Every node pool with its GPU shape, sizes, labels, taints, machine type and scale set."
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
      autoscaling_group    = try(module.node_pool[name].autoscaling_group, null)
    }
  }
}

output "nodes" {
  description = "Machines that exist now, one per node, with their pool and private address."
  value = flatten([
    for pool_name in sort(keys(module.node_pool)) : [
      for node in module.node_pool[pool_name].nodes : {
        name       = node.name
        pool       = pool_name
        address    = node.address
        connection = "ssh"
      }
    ]
  ])
}

output "node_bootstrap" {
  description = "Where nodes that the autoscaler adds read their join material; the configure stage writes it there."
  value = {
    secret_store = "azure-key-vault"
    secret_name  = module.identity.join_secret_path
  }
}
