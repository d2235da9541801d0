"""DRA on the local cluster: the simulated kubelet plugin publishes GPUs, the real scheduler
allocates them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import (
    RESTRICTED_CONTAINER_SECURITY,
    WORKLOAD_IMAGE,
    Kube,
    wait_until,
)

pytestmark = pytest.mark.integration
NAME = "itest-small"
NAMESPACE = "itest-dra"
DRIVER = "gpu.nvidia.com"


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    api = Kube(aicluster.work_dir(NAME) / "kubeconfig")
    with api.scratch_namespace(NAMESPACE):
        yield api


def slices(kube: Kube) -> dict[str, dict[str, Any]]:
    items = kube.custom.list_cluster_custom_object("resource.k8s.io", "v1", "resourceslices")["items"]
    return {item["spec"]["nodeName"]: item for item in items if item["spec"]["driver"] == DRIVER}


def claim_template(name: str, count: int, product: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"deviceClassName": DRIVER, "count": count}
    if product:
        request["selectors"] = [{"cel": {"expression":
                                          f"device.attributes['{DRIVER}'].productName == '{product}'"}}]
    return {
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {"spec": {"devices": {"requests": [{"name": "gpus", "exactly": request}]}}},
    }


def claim_pod(name: str, template: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "resourceClaims": [{"name": "gpus", "resourceClaimTemplateName": template}],
            "containers": [{"name": "main", "image": WORKLOAD_IMAGE,
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                            "resources": {"claims": [{"name": "gpus"}]}}],
        },
    }


def test_every_dra_node_publishes_its_gpus_with_the_driver_attributes(kube: Kube) -> None:
    published = slices(kube)
    dra_nodes = {n.metadata.name for n in kube.core.list_node(
        label_selector="aicluster.io/gpu-access=dra").items}
    assert dra_nodes == {f"{NAME}-h100-0", f"{NAME}-h100-1"}
    assert set(published) == dra_nodes, "device plugin pools must not publish DRA devices"
    uuids = set()
    for node_name, item in published.items():
        assert item["spec"]["pool"]["name"] == node_name
        devices = item["spec"]["devices"]
        assert [d["name"] for d in devices] == [f"gpu-{i}" for i in range(8)]
        for device in devices:
            attributes = device["attributes"]
            assert attributes["type"] == {"string": "gpu"}
            assert attributes["productName"] == {"string": "NVIDIA H100 80GB HBM3"}
            assert attributes["architecture"] == {"string": "Hopper"}
            assert attributes["cudaComputeCapability"] == {"version": "9.0.0"}
            assert attributes["driverVersion"]["version"].startswith("580.")
            assert "version" in attributes["cudaDriverVersion"]
            assert device["capacity"]["memory"] == {"value": "81559Mi"}
            uuids.add(attributes["uuid"]["string"])
    assert len(uuids) == 16, "every GPU has its own UUID"


def test_the_scheduler_allocates_claims_and_runs_out_of_devices(kube: Kube) -> None:
    kube.custom.create_namespaced_custom_object(
        "resource.k8s.io", "v1", NAMESPACE, "resourceclaimtemplates",
        claim_template("eight-h100", 8, "NVIDIA H100 80GB HBM3"))
    for index in range(3):
        kube.core.create_namespaced_pod(NAMESPACE, claim_pod(f"trainer-{index}", "eight-h100"))

    def running() -> list[Any]:
        pods = kube.core.list_namespaced_pod(NAMESPACE).items
        return [p for p in pods if p.status.phase == "Running"]

    wait_until(lambda: len(running()) == 2, 60, "two pods to get 8 GPUs each")
    placed = {p.spec.node_name for p in running()}
    assert placed == {f"{NAME}-h100-0", f"{NAME}-h100-1"}
    claims = kube.custom.list_namespaced_custom_object(
        "resource.k8s.io", "v1", NAMESPACE, "resourceclaims")["items"]
    allocated = [c for c in claims if c.get("status", {}).get("allocation")]
    assert len(allocated) == 2
    for claim in allocated:
        results = claim["status"]["allocation"]["devices"]["results"]
        assert len(results) == 8 and {r["driver"] for r in results} == {DRIVER}
        assert len({r["pool"] for r in results}) == 1
        assert claim["status"]["reservedFor"][0]["resource"] == "pods"
    # The third pod stays pending: all 16 GPUs are allocated.
    third = [p for p in kube.core.list_namespaced_pod(NAMESPACE).items
             if p.status.phase != "Running"]
    assert len(third) == 1 and third[0].spec.node_name is None


def test_extended_resource_requests_are_served_by_dra(kube: Kube) -> None:
    pod = claim_pod("legacy", "unused")
    del pod["spec"]["resourceClaims"]
    pod["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "4"}}
    kube.core.create_namespaced_pod(NAMESPACE, pod)
    running = wait_until(lambda: (p := kube.core.read_namespaced_pod("legacy", NAMESPACE))
                         .status.phase == "Running" and p, 60, "the pod to run")
    assert running.spec.node_name.startswith(f"{NAME}-h100-")
    claims = kube.custom.list_namespaced_custom_object(
        "resource.k8s.io", "v1", NAMESPACE, "resourceclaims")["items"]
    assert len(claims) == 1
    assert len(claims[0]["status"]["allocation"]["devices"]["results"]) == 4


def test_slices_follow_nodes_as_they_come_and_go(kube: Kube) -> None:
    template = kube.core.read_node(f"{NAME}-h100-0")
    labels = dict(template.metadata.labels)
    labels["kubernetes.io/hostname"] = f"{NAME}-h100-extra"
    labels.pop("aicluster.io/node-source", None)
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"{NAME}-h100-extra", "labels": labels},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present",
                                 "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}
    kube.core.create_node(node)
    try:
        wait_until(lambda: f"{NAME}-h100-extra" in slices(kube), 30, "the new node's slice")
    finally:
        try:
            kube.core.delete_node(f"{NAME}-h100-extra")
        except ApiException as error:
            assert error.status == 404
    wait_until(lambda: f"{NAME}-h100-extra" not in slices(kube), 30, "the slice to be withdrawn")
