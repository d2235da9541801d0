# On-prem hosts exist before aicluster runs: this module creates nothing. It checks the host
# list against the pools and turns it into the outputs contract, so that the inventory stage
# reads on-prem clusters exactly as it reads cloud ones.

locals {
  pool_members = {
    for name in keys(var.node_pools) : name => [for host in var.hosts : host if host.pool == name]
  }
}
