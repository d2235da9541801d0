"""What differs between targets: the Terraform module, its inputs and the configure playbook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aicluster.bom import load_bom
from aicluster.catalog import feature_discovery_labels, load_catalog
from aicluster.errors import FieldError, SpecError, StageError
from aicluster.mig import device_plugin_resources, feature_discovery_mig_labels
from aicluster.paths import PLAYBOOKS_DIR, TERRAFORM_DIR
from aicluster.spec import ClusterSpec, NodePool
from aicluster.spec_remote import (
    CONTROL_PLANE_MACHINE_TYPES,
    DEFAULT_DISK_GB,
    OnpremHost,
    machine_type_of,
    uses_high_speed_networking,
)

LOCAL_BINARIES = [
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
    "etcd", "kwok", "kwokctl",
]
DEFAULT_CPU_POOL_SHAPE = ("8", "32Gi")
# Every resource of a cluster carries this tag; the teardown's leak report searches for it.
CLUSTER_TAG = "aicluster.io/cluster"
# The platform's plays, independent of each other once the foundation is up.
PLATFORM_PLAYBOOKS = ["scheduling", "operator", "observability", "gateway"]


# Loopback ports of the local controllers, allocated once per cluster.
LOCAL_PORTS = ["kueue_webhook", "kueue_metrics", "kueue_health", "karpenter_metrics",
               "karpenter_health", "trainer_webhook", "trainer_metrics", "trainer_health",
               "jobset_webhook", "jobset_metrics", "jobset_health", "dcgm_exporter", "prometheus",
               "prometheus_adapter", "gateway_http", "gateway_api", "gateway_metrics",
               "prometheus_operator"]


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
            binaries += ["prometheus", "prometheus-adapter", "prometheus-operator"]
            sources.append("prometheus-operator")
        if spec.components.gateway:
            binaries.append("traefik")
            sources += ["gateway-api", "gateway-api-inference-extension"]
        if spec.components.ai_operator:
            binaries += ["trainer-controller-manager", "jobset"]
            sources += ["trainer", "jobset"]
        phases = [[PLAYBOOKS_DIR / "local-foundation.yml"],
                  [PLAYBOOKS_DIR / f"platform-{part}.yml" for part in PLATFORM_PLAYBOOKS]]
        return TargetPlan("local", TERRAFORM_DIR / "local", phases, binaries, sources, LOCAL_PORTS)
    module_dir = TERRAFORM_DIR / spec.target
    if not (module_dir / "main.tf").is_file():
        raise StageError("provision", f"target '{spec.target}' has no Terraform module in {module_dir}")
    # Hosts reached over SSH: the node stack and kubeadm, then the same platform roles. The hosts
    # install Kubernetes from their package repository; the pod network's manifest comes from its
    # pinned module on this machine.
    return TargetPlan(spec.target, module_dir, [[PLAYBOOKS_DIR / "cluster.yml"]], [], ["flannel"], [])


def _pool_contract(pool: NodePool) -> dict[str, Any]:
    """The pool fields every target's module takes (terraform/INPUTS.md, OUTPUTS.md)."""
    if pool.gpu is not None:
        product = load_catalog()[pool.gpu.product]
        driver = load_bom().raw["nvidia_driver"]
        labels = feature_discovery_labels(product, pool.gpu.count, str(driver["version"]),
                                          str(driver["cuda_version"]))
        labels["aicluster.io/gpu-access"] = pool.gpu.access
        if pool.gpu.access == "device-plugin" and pool.gpu.time_slicing_replicas > 1:
            labels["nvidia.com/gpu.replicas"] = str(pool.gpu.time_slicing_replicas)
            labels["nvidia.com/gpu.sharing-strategy"] = "time-slicing"
        mig_devices = dict(pool.gpu.mig.devices) if pool.gpu.mig else {}
        if mig_devices:
            labels.update(feature_discovery_mig_labels(product, pool.gpu.count, mig_devices,
                                                       pool.gpu.mig_strategy))
        gpu_fields: dict[str, Any] = {
            "gpu_product": product.name,
            "gpus_per_node": pool.gpu.count,
            "gpu_access": pool.gpu.access,
            "gpu_sharing_replicas": pool.gpu.time_slicing_replicas,
            # What the device plugin advertises per node; DRA pools publish ResourceSlices instead.
            "gpu_resources": device_plugin_resources(pool.gpu.count, pool.gpu.time_slicing_replicas,
                                                     mig_devices, pool.gpu.mig_strategy)
            if pool.gpu.access == "device-plugin" else {},
            "gpu_mig": {"devices": mig_devices, "strategy": pool.gpu.mig_strategy} if mig_devices else None,
            "gpu_labels": labels,
        }
    else:
        gpu_fields = {"gpu_product": None, "gpus_per_node": 0, "gpu_access": None,
                      "gpu_sharing_replicas": 1, "gpu_resources": {}, "gpu_mig": None, "gpu_labels": {}}
    return {
        **gpu_fields,
        "min_size": pool.nodes.min,
        "max_size": pool.nodes.max,
        "desired_size": pool.nodes.desired,
        "labels": dict(pool.labels),
        "taints": [taint.model_dump() for taint in pool.taints],
    }


def _local_pool(pool: NodePool) -> dict[str, Any]:
    if pool.resources is not None:
        cpu, memory = pool.resources.cpu, pool.resources.memory
    elif pool.gpu is not None:
        product = load_catalog()[pool.gpu.product]
        cpu, memory = product.local_cpu, product.local_memory
    else:
        cpu, memory = DEFAULT_CPU_POOL_SHAPE
    return {**_pool_contract(pool), "cpu": cpu, "memory": memory}


def _cloud_pool(pool: NodePool, cloud: str) -> dict[str, Any]:
    machine_type = machine_type_of(pool, cloud)
    assert machine_type is not None, "the spec checks guarantee a machine type"
    reservation = pool.capacity_reservation
    default_disk = DEFAULT_DISK_GB["gpu" if pool.gpu else "cpu"]
    return {
        **_pool_contract(pool),
        "machine_type": machine_type,
        "disk_size_gb": pool.disk_size_gb or default_disk,
        "high_speed_networking": uses_high_speed_networking(pool, cloud),
        "capacity_reservation": reservation.model_dump() if reservation else None,
    }


def _public_key(spec: ClusterSpec) -> str:
    assert spec.cloud is not None
    ssh = spec.cloud.ssh
    if ssh.public_key is not None:
        return ssh.public_key.strip()
    assert ssh.public_key_file is not None
    path = Path(ssh.public_key_file).expanduser()
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SpecError(str(path), [FieldError(
            "cloud.ssh.public_key_file", f"cannot read {path}: {error.strerror} "
            "(create a key pair with `ssh-keygen -t ed25519`, or give public_key)")]) from None
    if not key.startswith(("ssh-", "ecdsa-")):
        raise SpecError(str(path), [FieldError("cloud.ssh.public_key_file",
                                               f"{path} does not hold an OpenSSH public key")])
    return key


def _cloud_variables(spec: ClusterSpec) -> dict[str, Any]:
    cloud = spec.cloud
    assert cloud is not None
    control_plane = cloud.control_plane
    variables: dict[str, Any] = {
        "region": cloud.region,
        "zones": list(cloud.zones),
        "network_cidr": cloud.network_cidr,
        "admin_cidrs": list(cloud.admin_cidrs),
        "ssh_user": cloud.ssh.user,
        "ssh_public_key": _public_key(spec),
        "os_image": cloud.os_image,
        "control_plane": {
            "count": control_plane.count,
            "machine_type": control_plane.machine_type or CONTROL_PLANE_MACHINE_TYPES[spec.target],
            "disk_size_gb": control_plane.disk_size_gb,
        },
        "node_pools": {pool.name: _cloud_pool(pool, spec.target) for pool in spec.node_pools},
    }
    if spec.target == "gcp":
        variables["project_id"] = cloud.project_id
    if spec.target == "azure":
        variables["resource_group_name"] = cloud.resource_group_name
    return variables


def _onprem_variables(spec: ClusterSpec) -> dict[str, Any]:
    onprem = spec.onprem
    assert onprem is not None

    def host(entry: OnpremHost) -> dict[str, Any]:
        return {"name": entry.name, "address": entry.address, "pool": entry.pool,
                "user": entry.user or onprem.ssh.user}

    pools = {}
    for pool in spec.node_pools:
        count = sum(1 for entry in onprem.hosts if entry.pool == pool.name)
        pools[pool.name] = {**_pool_contract(pool), "desired_size": count, "machine_type": "host"}
    return {
        "node_pools": pools,
        "control_plane_hosts": [host(entry) for entry in onprem.control_plane],
        "hosts": [host(entry) for entry in onprem.hosts],
        "ssh": {"user": onprem.ssh.user, "bastion_host": onprem.bastion_host},
    }


def terraform_variables(spec: ClusterSpec) -> dict[str, Any]:
    """The module inputs for a spec (terraform/INPUTS.md): a common part, then the target's own."""
    common: dict[str, Any] = {
        "cluster_name": spec.name,
        "kubernetes_version": spec.resolved_kubernetes_version,
        "tags": {CLUSTER_TAG: spec.name},
    }
    if spec.target == "local":
        return {**common, "node_pools": {pool.name: _local_pool(pool) for pool in spec.node_pools}}
    if spec.target == "onprem":
        # Hosts that exist already carry no tags of ours.
        del common["tags"]
        return {**common, **_onprem_variables(spec)}
    return {**common, **_cloud_variables(spec)}
