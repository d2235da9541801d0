"""What differs between targets: the Terraform module, its inputs and the configure playbook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aicluster.bom import load_bom
from aicluster.catalog import feature_discovery_labels, load_catalog
from aicluster.errors import StageError
from aicluster.paths import PLAYBOOKS_DIR, TERRAFORM_DIR
from aicluster.spec import ClusterSpec, NodePool

LOCAL_BINARIES = [
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
    "etcd", "kwok", "kwokctl",
]
DEFAULT_CPU_POOL_SHAPE = ("8", "32Gi")
# The platform's plays, independent of each other once the foundation is up.
PLATFORM_PLAYBOOKS = ["scheduling", "operator", "observability", "gateway"]


# Loopback ports of the local controllers, allocated once per cluster.
LOCAL_PORTS = ["kueue_webhook", "kueue_metrics", "kueue_health", "karpenter_metrics",
               "karpenter_health", "trainer_webhook", "trainer_metrics", "trainer_health",
               "jobset_webhook", "jobset_metrics", "jobset_health", "dcgm_exporter", "prometheus",
               "prometheus_adapter", "gateway_http", "gateway_api", "gateway_metrics"]


@dataclass(frozen=True)
class TargetPlan:
    """How one target is provisioned and configured."""

    name: str
    module_dir: Path
    # Playbooks of the configure stage, by phase: a phase's playbooks run side by side, phases in order.
    playbook_phases: list[list[Path]]
    binaries: list[str]
    sources: list[str]
    ports: list[str]


def target_plan(spec: ClusterSpec) -> TargetPlan:
    if spec.target == "local":
        binaries = list(LOCAL_BINARIES)
        sources: list[str] = []
        if spec.components.kueue:
            binaries.append("kueue")
            sources.append("kueue")
        if spec.components.cluster_autoscaler:
            binaries.append("karpenter-kwok")
            sources.append("karpenter")
        if spec.components.observability:
            binaries += ["prometheus", "prometheus-adapter"]
        if spec.components.gateway:
            binaries.append("traefik")
            sources.append("gateway-api")
        if spec.components.ai_operator:
            binaries += ["trainer-controller-manager", "jobset"]
            sources += ["trainer", "jobset"]
        phases = [[PLAYBOOKS_DIR / "local-foundation.yml"],
                  [PLAYBOOKS_DIR / f"platform-{part}.yml" for part in PLATFORM_PLAYBOOKS]]
        return TargetPlan("local", TERRAFORM_DIR / "local", phases, binaries, sources, LOCAL_PORTS)
    module_dir = TERRAFORM_DIR / spec.target
    if not (module_dir / "main.tf").is_file():
        raise StageError(
            "provision",
            f"target '{spec.target}' has no Terraform module in {module_dir}; "
            "this version of aicluster builds the 'local' target only",
        )
    return TargetPlan(spec.target, module_dir, [[PLAYBOOKS_DIR / "cluster.yml"]], [], [], [])


def _local_pool(pool: NodePool) -> dict[str, Any]:
    if pool.gpu is not None:
        product = load_catalog()[pool.gpu.product]
        driver = load_bom().raw["nvidia_driver"]
        cpu, memory = product.local_cpu, product.local_memory
        labels = feature_discovery_labels(product, pool.gpu.count, str(driver["version"]),
                                          str(driver["cuda_version"]))
        labels["aicluster.io/gpu-access"] = pool.gpu.access
        if pool.gpu.access == "device-plugin" and pool.gpu.time_slicing_replicas > 1:
            labels["nvidia.com/gpu.replicas"] = str(pool.gpu.time_slicing_replicas)
            labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
        gpu_fields: dict[str, Any] = {
            "gpu_product": product.name,
            "gpus_per_node": pool.gpu.count,
            "gpu_access": pool.gpu.access,
            "gpu_sharing_replicas": pool.gpu.time_slicing_replicas,
            "gpu_labels": labels,
        }
    else:
        cpu, memory = DEFAULT_CPU_POOL_SHAPE
        gpu_fields = {"gpu_product": None, "gpus_per_node": 0, "gpu_access": None,
                      "gpu_sharing_replicas": 1, "gpu_labels": {}}
    if pool.resources is not None:
        cpu, memory = pool.resources.cpu, pool.resources.memory
    return {
        **gpu_fields,
        "min_size": pool.nodes.min,
        "max_size": pool.nodes.max,
        "desired_size": pool.nodes.desired,
        "cpu": cpu,
        "memory": memory,
        "labels": dict(pool.labels),
        "taints": [taint.model_dump() for taint in pool.taints],
    }


def terraform_variables(spec: ClusterSpec) -> dict[str, Any]:
    """The module inputs for a spec; the same shape for every target's module."""
    return {
        "cluster_name": spec.name,
        "kubernetes_version": spec.resolved_kubernetes_version,
        "node_pools": {pool.name: _local_pool(pool) for pool in spec.node_pools},
        "tags": {"aicluster.io/cluster": spec.name},
    }
