"""`invoke status`: the kubeconfig and every node pool, as the API server sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aicluster.console import render_table
from aicluster.errors import ClusterUnreachableError

POOL_LABEL = "aicluster.io/pool"
REQUEST_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class PoolStatus:
    name: str
    gpu_product: str
    gpus_per_node: int
    ready: int
    registered: int
    desired: int
    min_size: int
    max_size: int


def kubernetes_client(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    if not kubeconfig.is_file():
        raise ClusterUnreachableError(f"no kubeconfig at {kubeconfig}: is the cluster built?")
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def list_nodes(kubeconfig: Path) -> list[Any]:
    import urllib3

    api = kubernetes_client(kubeconfig)
    try:
        return api.list_node(_request_timeout=REQUEST_TIMEOUT_SECONDS).items
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ClusterUnreachableError(
            f"the API server in {kubeconfig} cannot be reached: {error}"
        ) from None


def is_ready(node: Any) -> bool:
    return any(condition.type == "Ready" and condition.status == "True"
               for condition in (node.status.conditions or []))


def pool_statuses(outputs: dict[str, Any], nodes: list[Any]) -> list[PoolStatus]:
    result = []
    for name, pool in sorted(outputs["node_pools"].items()):
        members = [node for node in nodes if (node.metadata.labels or {}).get(POOL_LABEL) == name]
        result.append(PoolStatus(
            name=name,
            gpu_product=pool.get("gpu_product") or "-",
            gpus_per_node=int(pool.get("gpus_per_node") or 0),
            ready=sum(1 for node in members if is_ready(node)),
            registered=len(members),
            desired=int(pool["desired_size"]),
            min_size=int(pool["min_size"]),
            max_size=int(pool["max_size"]),
        ))
    return result


def pool_table(statuses: list[PoolStatus]) -> str:
    rows = [
        (s.name, s.gpu_product, s.gpus_per_node or "-", f"{s.ready}/{s.desired}",
         f"{s.min_size}..{s.max_size}", s.gpus_per_node * s.ready or "-")
        for s in statuses
    ]
    return render_table(["POOL", "GPU", "GPUS/NODE", "READY/DESIRED", "MIN..MAX", "GPUS READY"],
                        rows)


def read_outputs(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ClusterUnreachableError(f"no Terraform outputs at {path}: is the cluster built?")
    return json.loads(path.read_text())
