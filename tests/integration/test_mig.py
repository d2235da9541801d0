"""MIG on the local cluster (inventories/local-mig.yaml): the device plugin pool's nodes advertise their
MIG devices per profile and Kueue admits Jobs against quotas counted in them; the DRA pool's GPUs are
published as MIG devices that the real scheduler allocates through the mig.nvidia.com DeviceClass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicluster.paths import INVENTORIES_DIR
from tests.integration.conftest import Aicluster
from tests.integration.kube import (
    RESTRICTED_CONTAINER_SECURITY,
    WORKLOAD_IMAGE,
    Kube,
    condition,
    condition_true,
    gpu_job,
    wait_until,
)

pytestmark = pytest.mark.integration
NAME = "itest-mig"
MIG_RESOURCE = "nvidia.com/mig-1g.10gb"
DRIVER = "gpu.nvidia.com"


@pytest.fixture(scope="module")
def mig_cluster(aicluster: Aicluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    document = yaml.safe_load((INVENTORIES_DIR / "local-mig.yaml").read_text())
    document["name"] = NAME
    # Only the components that MIG involves: a smaller, faster cluster.
    document["components"] = {"observability": False, "gateway": False, "ai_operator": False}
    spec = tmp_path_factory.mktemp("mig") / f"{NAME}.yaml"
    spec.write_text(yaml.safe_dump(document))
    built = aicluster.run("build", "--spec", str(spec), "--skip-validate")
    assert built.returncode == 0, built.stdout + built.stderr
    yield spec
    destroyed = aicluster.run("destroy", "--spec", str(spec))
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr


@pytest.fixture(scope="module")
def kube(mig_cluster: Path, aicluster: Aicluster) -> Kube:
    return Kube(aicluster.work_dir(NAME) / "kubeconfig")


def test_device_plugin_nodes_advertise_mig_devices_per_profile(kube: Kube) -> None:
    (node,) = kube.core.list_node(label_selector="aicluster.io/pool=a100-mig").items
    assert node.status.capacity[MIG_RESOURCE] == "56"
    assert node.status.allocatable[MIG_RESOURCE] == "56"
    assert "nvidia.com/gpu" not in node.status.allocatable
    labels = node.metadata.labels
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert labels["nvidia.com/mig-1g.10gb.count"] == "56"
    assert labels["nvidia.com/gpu.count"] == "8"


def job_with_mig(name: str, pods: int, devices: int) -> dict[str, Any]:
    job = gpu_job(name, "team-a", pods, 1)
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "1", "memory": "1Gi", MIG_RESOURCE: str(devices)},
                              "limits": {MIG_RESOURCE: str(devices)}}
    job["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return job


def test_kueue_admits_mig_jobs_within_the_quota_counted_in_mig_devices(kube: Kube) -> None:
    """team-a holds two A100s of the pool: 14 MIG devices. A gang of two pods taking 7 each is admitted
    and bound to the MIG node; one more device is above the quota and waits."""
    queue = kube.custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", "team-a")
    flavors = {flavor["name"]: {r["name"]: r["nominalQuota"] for r in flavor["resources"]}
               for flavor in queue["spec"]["resourceGroups"][0]["flavors"]}
    assert flavors["a100-mig"][MIG_RESOURCE] == "14"
    assert flavors["h100-mig"][MIG_RESOURCE] == "0"
    assert flavors["cpu"][MIG_RESOURCE] == "0"
    try:
        kube.batch.create_namespaced_job("team-a", job_with_mig("mig-fits", 2, 7))
        pods = wait_until(lambda: [p for p in kube.pods("team-a", "job=mig-fits") if p.spec.node_name]
                          if len([p for p in kube.pods("team-a", "job=mig-fits") if p.spec.node_name]) == 2
                          else None, 60, "both pods of the fitting MIG gang to be bound")
        assert {pod.spec.node_name for pod in pods} == {f"{NAME}-a100-mig-0"}
        kube.batch.create_namespaced_job("team-a", job_with_mig("mig-over", 1, 1))
        pending = wait_until(
            lambda: (w := kube.workload_of("team-a", "mig-over")) and condition(w, "QuotaReserved") and w, 30,
            "the workload above the quota to be evaluated")
        assert not condition_true(pending, "QuotaReserved")
        assert MIG_RESOURCE in condition(pending, "QuotaReserved")["message"]
        assert not [p for p in kube.pods("team-a", "job=mig-over") if p.spec.node_name]
    finally:
        kube.delete_jobs("team-a")


def mig_pod(name: str, devices: int) -> dict[str, Any]:
    requests = {"cpu": "1", "memory": "1Gi", MIG_RESOURCE: str(devices)}
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"aicluster.io/pool": "a100-mig"},
            "containers": [{"name": "main", "image": WORKLOAD_IMAGE,
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                            "resources": {"requests": requests, "limits": {MIG_RESOURCE: str(devices)}}}],
        },
    }


def test_the_autoscaler_adds_a_node_for_mig_devices_the_pool_lacks(kube: Kube) -> None:
    """Two pods of 40 MIG devices do not fit the pool's one node (56): Karpenter, which knows the
    pool's machine from what its device plugin advertises, adds a node with 56 more."""
    with kube.scratch_namespace("itest-mig-scale") as namespace:
        for name in ("mig-40-a", "mig-40-b"):
            kube.core.create_namespaced_pod(namespace, mig_pod(name, 40))

        def both_running() -> list[Any] | None:
            pods = kube.core.list_namespaced_pod(namespace).items
            running = [p for p in pods if p.status.phase == "Running" and p.spec.node_name]
            return running if len(running) == 2 else None

        pods = wait_until(both_running, 120, "both MIG pods to run, one on a new node")
        nodes = {pod.spec.node_name for pod in pods}
        assert len(nodes) == 2 and f"{NAME}-a100-mig-0" in nodes
        (added,) = nodes - {f"{NAME}-a100-mig-0"}
        node = kube.core.read_node(added)
        assert node.status.allocatable[MIG_RESOURCE] == "56"
        assert node.metadata.labels["nvidia.com/mig-1g.10gb.count"] == "56"


def claim_pod(name: str, claim: str) -> dict[str, Any]:
    """A restricted pod on GPU nodes whose one container uses the ResourceClaim `claim`."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "resourceClaims": [{"name": "devices", "resourceClaimName": claim}],
            "containers": [{"name": "main", "image": WORKLOAD_IMAGE,
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                            "resources": {"claims": [{"name": "devices"}]}}],
        },
    }


def test_dra_mig_devices_are_published_and_allocated_by_the_scheduler(kube: Kube) -> None:
    classes = {c["metadata"]["name"]: c for c in kube.custom.list_cluster_custom_object(
        "resource.k8s.io", "v1", "deviceclasses")["items"]}
    assert "mig.nvidia.com" in classes
    (node,) = kube.core.list_node(label_selector="aicluster.io/pool=h100-mig").items
    (published,) = [item for item in kube.custom.list_cluster_custom_object(
        "resource.k8s.io", "v1", "resourceslices")["items"]
        if item["spec"]["driver"] == DRIVER and item["spec"]["nodeName"] == node.metadata.name]
    devices = published["spec"]["devices"]
    assert len(devices) == 8 * 5 and {d["attributes"]["type"]["string"] for d in devices} == {"mig"}
    with kube.scratch_namespace("itest-mig-dra") as namespace:
        kube.custom.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "half-gpu"},
            "spec": {"devices": {"requests": [{"name": "mig", "exactly": {
                "deviceClassName": "mig.nvidia.com",
                "selectors": [{"cel": {"expression": f"device.attributes['{DRIVER}'].profile == '3g.40gb'"}}],
            }}]}}})
        kube.core.create_namespaced_pod(namespace, claim_pod("mig-user", "half-gpu"))
        pod = wait_until(lambda: (p := kube.core.read_namespaced_pod("mig-user", namespace)).spec.node_name
                         and p, 60, "the MIG pod to be scheduled")
        assert pod.spec.node_name == node.metadata.name
        claim = kube.custom.get_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims",
                                                         "half-gpu")
        (result,) = claim["status"]["allocation"]["devices"]["results"]
        assert result["driver"] == DRIVER and result["pool"] == node.metadata.name
        assert result["device"].startswith("gpu-") and "-mig-3g40gb-9-4" in result["device"]
        # A whole-GPU claim finds no device there: every GPU of the pool is partitioned.
        kube.custom.create_namespaced_custom_object("resource.k8s.io", "v1", namespace, "resourceclaims", {
            "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "whole-gpu"},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": DRIVER}}]}}})
        kube.core.create_namespaced_pod(namespace, claim_pod("whole-gpu-user", "whole-gpu"))

        def not_scheduled() -> object:
            conditions = kube.core.read_namespaced_pod("whole-gpu-user", namespace).status.conditions or []
            return next((c for c in conditions if c.type == "PodScheduled" and c.status == "False"), None)

        unschedulable = wait_until(not_scheduled, 60, "the whole-GPU pod to be found unschedulable")
        assert unschedulable.reason == "Unschedulable"


def test_gpu_sharing_check_finds_both_mig_paths_and_labels_them_simulated(
        mig_cluster: Path, aicluster: Aicluster, tmp_path: Path) -> None:
    result = aicluster.run("validate", "--spec", str(mig_cluster), "--only", "gpu_sharing", "--json",
                           "--output", str(tmp_path / "validation"))
    summary = yaml.safe_load(result.stdout)
    (check,) = [item for item in summary["results"] if item["id"] == "gpu_sharing"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert check["status"] == "SKIP", check
    assert check["source"] == "simulated"
    assert check["implementation"] == "DRA MIG, MIG", check
    assert "needs real GPUs" in check["reason"]


def test_a_second_configure_changes_nothing(mig_cluster: Path, aicluster: Aicluster) -> None:
    again = aicluster.run("configure", "--spec", str(mig_cluster))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed=0" in again.stdout, again.stdout
