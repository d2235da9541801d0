"""The inventory stage: an Ansible inventory generated from the Terraform outputs contract
(terraform/OUTPUTS.md), identical for every target.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aicluster.errors import AiclusterError

CONTRACT_VERSION = 1
REQUIRED_OUTPUTS = (
    "contract_version", "cluster_name", "target", "kubernetes_version",
    "control_plane_hosts", "node_pools", "nodes",
)
# Terraform leaves outputs whose value is null out of `terraform output -json`.
NULLABLE_OUTPUTS = ("api_endpoint", "ssh", "node_bootstrap")
POOL_FIELDS = (
    "gpu_product", "gpus_per_node", "gpu_access", "gpu_sharing_replicas", "gpu_resources", "gpu_mig",
    "gpu_labels", "min_size", "max_size", "desired_size",
    "labels", "taints", "machine_type",
)


class ContractError(AiclusterError):
    """Terraform outputs that do not follow the outputs contract."""


def check_contract(outputs: dict[str, Any]) -> None:
    for name in NULLABLE_OUTPUTS:
        outputs.setdefault(name, None)
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise ContractError(f"Terraform outputs lack {', '.join(missing)} "
                            "(see terraform/OUTPUTS.md)")
    if outputs["contract_version"] != CONTRACT_VERSION:
        raise ContractError(f"outputs contract version {outputs['contract_version']} is not "
                            f"the supported {CONTRACT_VERSION}")
    for pool_name, pool in outputs["node_pools"].items():
        absent = [field for field in POOL_FIELDS if field not in pool]
        if absent:
            raise ContractError(f"node_pools.{pool_name} lacks {', '.join(absent)}")
    for node in outputs["nodes"]:
        if node.get("pool") not in outputs["node_pools"]:
            raise ContractError(f"node {node.get('name')} names unknown pool {node.get('pool')}")


def pool_group(pool_name: str) -> str:
    return "pool_" + re.sub(r"[^A-Za-z0-9_]", "_", pool_name)


@dataclass(frozen=True)
class SshClient:
    """This machine's side of the SSH connections: from the spec, never from Terraform."""

    private_key_file: str | None = None
    port: int = 22
    python_interpreter: str | None = None


def _host_vars(host: dict[str, Any], ssh: dict[str, Any] | None, python: str,
               client: SshClient, known_hosts: Path) -> dict[str, Any]:
    connection = host.get("connection")
    if connection == "local":
        return {"ansible_connection": "local", "ansible_python_interpreter": python}
    if connection == "simulated":
        # Simulated nodes have no operating system to reach; plays never target them.
        return {"aicluster_simulated": True}
    ssh = ssh or {}
    result: dict[str, Any] = {"ansible_host": host["address"]}
    user = host.get("user") or ssh.get("user")
    if user:
        result["ansible_user"] = user
    if client.port != 22:
        result["ansible_port"] = client.port
    if client.private_key_file:
        result["ansible_ssh_private_key_file"] = str(Path(client.private_key_file).expanduser())
    if client.python_interpreter:
        result["ansible_python_interpreter"] = client.python_interpreter
    # A host key is trusted the first time it is seen and checked on every later run.
    options = f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known_hosts}"
    if ssh.get("bastion_host"):
        options += f" -o ProxyJump={ssh.get('user') or 'ubuntu'}@{ssh['bastion_host']}"
    result["ansible_ssh_common_args"] = options
    return result


def build_inventory(outputs: dict[str, Any], work_dir: Path, python: str,
                    client: SshClient | None = None) -> dict[str, Any]:
    """Turns contract outputs into an Ansible YAML inventory (as a dict)."""
    check_contract(outputs)
    ssh = outputs["ssh"]
    client = client or SshClient()
    known_hosts = work_dir / "known_hosts"

    def host_vars(host: dict[str, Any]) -> dict[str, Any]:
        return _host_vars(host, ssh, python, client, known_hosts)

    control_plane = {host["name"]: host_vars(host) for host in outputs["control_plane_hosts"]}
    pools: dict[str, Any] = {}
    for pool_name, pool in sorted(outputs["node_pools"].items()):
        members = {
            node["name"]: host_vars(node)
            for node in outputs["nodes"] if node["pool"] == pool_name
        }
        pools[pool_group(pool_name)] = {
            "hosts": members or {},
            "vars": {"aicluster_pool": {"name": pool_name, **pool}},
        }
    gpu_groups = {
        pool_group(name): {} for name, pool in outputs["node_pools"].items()
        if pool.get("gpus_per_node")
    }
    return {
        "all": {
            "vars": {
                "aicluster_cluster_name": outputs["cluster_name"],
                "aicluster_target": outputs["target"],
                "aicluster_kubernetes_version": outputs["kubernetes_version"],
                "aicluster_api_endpoint": outputs["api_endpoint"],
                "aicluster_node_bootstrap": outputs["node_bootstrap"],
                "aicluster_work_dir": str(work_dir),
                "aicluster_kubeconfig": str(work_dir / "kubeconfig"),
                "aicluster_node_pools": {
                    name: {"name": name, **copy.deepcopy(pool)}
                    for name, pool in outputs["node_pools"].items()
                },
            },
            "children": {
                "control_plane": {"hosts": control_plane},
                "nodes": {"children": pools},
                "gpu_nodes": {"children": gpu_groups},
            },
        }
    }


def write_inventory(inventory: dict[str, Any], path: Path) -> bool:
    """Writes the inventory; returns whether its content changed."""
    text = "---\n# Generated by aicluster from the Terraform outputs; do not edit.\n"
    text += yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return True
