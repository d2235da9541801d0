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
  description = "Target that holds the machines."
  value       = "onprem"
}

output "kubernetes_version" {
  description = "Kubernetes release the configure stage installs."
  value       = var.kubernetes_version
}

output "api_endpoint" {
  description = "URL of the Kubernetes API: the first control-plane host (no load balancer on-prem)."
  value       = "https://${var.control_plane_hosts[0].address}:6443"
}

output "ssh" {
  description = "How Ansible reaches the hosts."
  value = {
    user         = var.ssh.user
    bastion_host = var.ssh.bastion_host
  }
}

output "control_plane_hosts" {
  description = "Hosts that run the control plane."
  value = [for host in var.control_plane_hosts : {
    name       = host.name
    address    = host.address
    user       = coalesce(host.user, var.ssh.user)
    connection = "ssh"
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
      desired_size         = length(local.pool_members[name])
      labels               = pool.labels
      taints               = pool.taints
      machine_type         = pool.machine_type
      autoscaling_group    = null
    }
  }
}

output "nodes" {
  description = "Worker hosts, one per node, with their pool."
  value = [for host in var.hosts : {
    name       = host.name
    pool       = host.pool
    address    = host.address
    user       = coalesce(host.user, var.ssh.user)
    connection = "ssh"
  }]
}
