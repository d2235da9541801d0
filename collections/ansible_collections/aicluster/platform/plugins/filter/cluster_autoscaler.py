"""Jinja filters that turn the inventory's node pools into the cluster autoscaler's command line
and environment, per cloud (the terraform/<cloud>/README.md "Cluster autoscaler" sections)."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

PROVIDERS = {"aws": "aws", "gcp": "gce", "azure": "azure"}
# The GCE provider scales zonal managed instance groups, named by their instanceGroups URL.
_GCE_GROUP = re.compile(
    r"^https://www\.googleapis\.com/compute/v1/projects/([^/]+)/zones/([^/]+)/"
    r"(?:instanceGroupManagers|instanceGroups)/([^/]+)$")
_AZURE_GROUP = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachineScaleSets/([^/]+)$", re.IGNORECASE)


def _provider(target: str) -> str:
    if target not in PROVIDERS:
        raise AnsibleFilterError(
            f"target {target!r} has no cluster autoscaler (clouds: {', '.join(PROVIDERS)}); on-prem "
            "machines are not created on demand, so an on-prem cluster runs without one")
    return PROVIDERS[target]


def gpu_utilization_threshold(node_pools: dict[str, dict[str, Any]]) -> str:
    """Below one GPU of the largest GPU node: a node where any pod holds a GPU is never considered
    unneeded, since the autoscaler judges GPU nodes by their GPU requests alone."""
    largest = max((int(pool.get("gpus_per_node") or 0) * int(pool.get("gpu_sharing_replicas") or 1)
                   for pool in node_pools.values()), default=0)
    if largest <= 1:
        return "0.5"
    return f"{0.5 / largest:.4f}".rstrip("0")


def gce_group_url(group: str, pool: str) -> str:
    match = _GCE_GROUP.match(group or "")
    if match is None:
        raise AnsibleFilterError(
            f"pool {pool}: autoscaling_group {group!r} is not a zonal managed instance group "
            "(…/projects/<project>/zones/<zone>/instanceGroupManagers/<name>); the autoscaler's GCE "
            "provider scales zonal groups only")
    project, zone, name = match.groups()
    return f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instanceGroups/{name}"


def cluster_autoscaler_args(node_pools: dict[str, dict[str, Any]], target: str, cluster_name: str,
                            settings: dict[str, Any]) -> list[str]:
    """The autoscaler's flags: cloud provider, node group discovery, scale-down behaviour."""
    provider = _provider(target)
    args = [
        f"--cloud-provider={provider}",
        f"--scale-down-enabled={str(settings.get('scale_down_enabled', True)).lower()}",
        f"--scale-down-unneeded-time={settings.get('scale_down_unneeded_time', '10m')}",
        f"--scale-down-delay-after-add={settings.get('scale_down_delay_after_add', '10m')}",
        f"--balance-similar-node-groups={str(settings.get('balance_similar_node_groups', True)).lower()}",
        f"--expander={settings.get('expander', 'least-waste')}",
        f"--scale-down-gpu-utilization-threshold={gpu_utilization_threshold(node_pools)}",
        f"--max-node-provision-time={settings.get('max_node_provision_time', '20m')}",
    ]
    if provider == "aws":
        args.append("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
                    f"k8s.io/cluster-autoscaler/{cluster_name}")
    elif provider == "azure":
        args.append("--node-group-auto-discovery=label:k8s.io_cluster-autoscaler_enabled=true,"
                    f"k8s.io_cluster-autoscaler_{cluster_name}=owned")
    else:
        for name, pool in sorted(node_pools.items()):
            args.append(f"--nodes={int(pool['min_size'])}:{int(pool['max_size'])}:"
                        f"{gce_group_url(pool.get('autoscaling_group'), name)}")
    return args


def cluster_autoscaler_env(node_pools: dict[str, dict[str, Any]], target: str,
                           identity_client_id: str = "") -> list[dict[str, str]]:
    """Environment of the autoscaler's container. Azure reads its subscription, resource group and
    credentials from it (the control plane's managed identity); AWS and GCE use the instance's
    metadata service."""
    if _provider(target) != "azure":
        return []
    groups = {(match.group(1), match.group(2)) for pool in node_pools.values()
              if (match := _AZURE_GROUP.match(pool.get("autoscaling_group") or ""))}
    if len(groups) != 1:
        raise AnsibleFilterError(
            "azure: every pool's autoscaling_group must be a scale set ID of one subscription and "
            f"resource group; found {sorted(groups) or 'none'}")
    subscription, resource_group = groups.pop()
    env = [{"name": "ARM_SUBSCRIPTION_ID", "value": subscription},
           {"name": "ARM_RESOURCE_GROUP", "value": resource_group},
           {"name": "ARM_VM_TYPE", "value": "vmss"},
           {"name": "ARM_USE_MANAGED_IDENTITY_EXTENSION", "value": "true"}]
    if identity_client_id:
        env.append({"name": "ARM_USER_ASSIGNED_IDENTITY_ID", "value": identity_client_id})
    return env


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "cluster_autoscaler_args": cluster_autoscaler_args,
            "cluster_autoscaler_env": cluster_autoscaler_env,
        }
