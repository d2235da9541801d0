"""Node autoscaling on the local cluster: Karpenter (KWOK provider) decides, KWOK runs the nodes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import RESTRICTED_CONTAINER_SECURITY, WORKLOAD_IMAGE, Kube, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
NAMESPACE = "itest-autoscaling"
POOL = "t4"


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    api = Kube(aicluster.work_dir(NAME) / "kubeconfig")
    with api.scratch_namespace(NAMESPACE):
        yield api
    # Leave the pool as the other tests expect it: back at its minimum of zero nodes.
    wait_until(lambda: pool_nodes(api) == [], 180, "the t4 pool to return to zero nodes")


def pool_nodes(kube: Kube) -> list[Any]:
    return kube.core.list_node(label_selector=f"aicluster.io/pool={POOL}").items


def ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def gpu_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            # Only the pool label: the autoscaler must pick the pool from the pod's GPU request.
            "nodeSelector": {"aicluster.io/pool": POOL},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "main", "image": WORKLOAD_IMAGE,
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                            "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        },
    }


def test_a_gpu_pod_scales_an_empty_pool_up_and_the_pool_returns_to_its_minimum(kube: Kube) -> None:
    assert pool_nodes(kube) == [], "the t4 pool starts at its minimum of zero nodes"
    kube.core.create_namespaced_pod(NAMESPACE, gpu_pod("needs-t4"))

    def unschedulable() -> bool:
        pod = kube.core.read_namespaced_pod("needs-t4", NAMESPACE)
        return any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
                   for c in pod.status.conditions or [])

    wait_until(unschedulable, 30, "the scheduler to find no T4 node")
    nodes = wait_until(lambda: [n for n in pool_nodes(kube) if ready(n)], 120,
                       "the autoscaler to add a Ready T4 node")
    assert len(nodes) == 1
    node = nodes[0]
    assert node.spec.provider_id.startswith("kwok://"), "the node came from the autoscaler"
    assert node.status.allocatable["nvidia.com/gpu"] == "1"
    assert node.metadata.labels["nvidia.com/gpu.product"] == "Tesla-T4"
    # Karpenter copies the NodePool's taints onto the node when it registers it.
    wait_until(lambda: any(t.key == "nvidia.com/gpu" for t in
                           kube.core.read_node(node.metadata.name).spec.taints or []), 30,
               "the pool's GPU taint on the new node")
    pod = wait_until(lambda: (p := kube.core.read_namespaced_pod("needs-t4", NAMESPACE))
                     .status.phase == "Running" and p, 60, "the pod to run on the new node")
    assert pod.spec.node_name == node.metadata.name
    events = kube.core.list_namespaced_event(
        NAMESPACE, field_selector="involvedObject.name=needs-t4").items
    assert any(e.reason == "Nominated" or "karpenter" in (e.source.component or "")
               for e in events), [e.reason for e in events]

    kube.core.delete_namespaced_pod("needs-t4", NAMESPACE)
    wait_until(lambda: pool_nodes(kube) == [], 180, "the empty node to be removed")
