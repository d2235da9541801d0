"""The cloud teardown's first step, against the real local API server: the cluster autoscaler is
scaled to zero and its pods are awaited before anything else is released (so it cannot grow a
pool's autoscaling group while Terraform destroys it). The rest of the release step (deleting
every Gateway and NodePool) would take the shared test cluster apart, so it is not run here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from aicluster.teardown import CLUSTER_AUTOSCALER_SELECTOR, running_autoscaler_pods, stop_cluster_autoscalers
from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import RESTRICTED_CONTAINER_SECURITY, WORKLOAD_IMAGE, Kube, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
NAMESPACE = "itest-teardown"
LABELS = dict([CLUSTER_AUTOSCALER_SELECTOR.split("=")])


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    api = Kube(aicluster.work_dir(NAME) / "kubeconfig")
    with api.scratch_namespace(NAMESPACE):
        yield api


def autoscaler_deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cluster-autoscaler", "labels": LABELS},
        "spec": {"replicas": 1, "selector": {"matchLabels": LABELS},
                 "template": {"metadata": {"labels": LABELS}, "spec": {
                     "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "cluster-autoscaler", "image": WORKLOAD_IMAGE,
                                     "securityContext": RESTRICTED_CONTAINER_SECURITY}]}}},
    }


def test_the_cluster_autoscaler_is_stopped_before_anything_is_released(kube: Kube) -> None:
    apps = client.AppsV1Api(kube.api_client)
    assert running_autoscaler_pods(kube.core) == [], "no cluster autoscaler runs on the local cluster"
    apps.create_namespaced_deployment(NAMESPACE, autoscaler_deployment())
    wait_until(lambda: [p for p in kube.pods(NAMESPACE, CLUSTER_AUTOSCALER_SELECTOR)
                        if p.status.phase == "Running"], 90, "the autoscaler's pod to run")
    assert running_autoscaler_pods(kube.core) == [f"Pod {NAMESPACE}/{p.metadata.name} (cluster autoscaler)"
                                                   for p in kube.pods(NAMESPACE, CLUSTER_AUTOSCALER_SELECTOR)]

    stopped = stop_cluster_autoscalers(apps)
    assert stopped == [f"Deployment {NAMESPACE}/cluster-autoscaler (cluster autoscaler)"]
    assert apps.read_namespaced_deployment("cluster-autoscaler", NAMESPACE).spec.replicas == 0
    wait_until(lambda: running_autoscaler_pods(kube.core) == [], 90, "the autoscaler's pods to go")
    # Stopping again changes nothing and still names it (a re-run of an interrupted destroy).
    assert stop_cluster_autoscalers(apps) == stopped
