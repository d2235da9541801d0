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
  value       = "local"
}

output "kubernetes_version" {
  description = "Kubernetes release the configure stage installs."
  value       = var.kubernetes_version
}

output "api_endpoint" {
  description = "URL of the Kubernetes API; null where the configure stage creates it (local)."
  value       = null
}

output "ssh" {
  description = "How Ansible reaches the hosts; null on the local target, which runs on this machine."
  value       = null
}

output "control_plane_hosts" {
  description = "Hosts that run the control plane."
  value = [{
    name       = terraform_data.control_plane.output.name
    address    = "127.0.0.1"
    connection = "local"
  }]
}

output "node_pools" {
  description = "Every node pool with its GPU shape, sizes, labels and taints."
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
      machine_type         = "simulated"
      cpu                  = pool.cpu
      memory               = pool.memory
      autoscaling_group    = null
    }
  }
}

output "nodes" {
  description = "Machines that exist now, one per node, with their pool."
  value = flatten([
    for pool_name in sort(keys(terraform_data.node_pool)) : [
      for node_name in terraform_data.node_pool[pool_name].output.nodes : {
        name       = node_name
        pool       = pool_name
        address    = null
        connection = "simulated"
      }
    ]
  ])
}
