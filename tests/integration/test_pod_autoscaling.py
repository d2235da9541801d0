"""Pod autoscaling on an AI service metric: the real HPA controller scales an inference Deployment on
the queue depth its servers report (vLLM's vllm:num_requests_waiting), read by the real Prometheus and
served per pod by prometheus-adapter as inference_queue_depth through custom.metrics.k8s.io.

Simulated pods run no server, so each pod's metrics endpoint is a server of this test on this host,
published through an EndpointSlice whose endpoint names the pod (targetRef), exactly where the pod's
own address would be; Prometheus, the adapter and the HPA only see the cluster's objects."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from aicluster.validation import stand_ins
from aicluster.validation.cluster import Cluster
from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import RESTRICTED_CONTAINER_SECURITY, WORKLOAD_IMAGE, Kube, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
NAMESPACE = "queue-autoscaling"
TARGET_DEPTH, HIGH_DEPTH, MAX_REPLICAS = 10, 30, 3


class QueueStandIns:
    """One metrics server per Running pod of the Deployment, each behind its own EndpointSlice."""

    def __init__(self, kube: Kube, address: str, stack: contextlib.ExitStack) -> None:
        self.kube, self.address, self.stack = kube, address, stack
        self.depth = HIGH_DEPTH
        self.published: set[str] = set()

    def metrics(self, _path: str) -> tuple[int, str, str]:
        body = ("# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                "# TYPE vllm:num_requests_waiting gauge\n"
                f'vllm:num_requests_waiting{{model_name="demo"}} {self.depth}\n')
        return 200, "text/plain; version=0.0.4", body

    def follow_pods(self) -> None:
        for pod in self.kube.pods(NAMESPACE, "app=llm"):
            name = pod.metadata.name
            if name in self.published or pod.status.phase != "Running" or pod.metadata.deletion_timestamp:
                continue
            port = self.stack.enter_context(stand_ins.serving(stand_ins.text_handler(self.metrics),
                                                              self.address))
            self.kube.custom.create_namespaced_custom_object("discovery.k8s.io", "v1", NAMESPACE,
                                                             "endpointslices", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"llm-{name}", "labels": {"kubernetes.io/service-name": "llm"}},
                "addressType": "IPv4",
                "ports": [{"name": "metrics", "port": port, "protocol": "TCP"}],
                "endpoints": [{"addresses": [self.address], "conditions": {"ready": True},
                               "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": name}}],
            })
            self.published.add(name)


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    yield Kube(aicluster.work_dir(NAME) / "kubeconfig")


def inference_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "llm"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "llm"}},
                 "template": {"metadata": {"labels": {"app": "llm"}}, "spec": {
                     "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "server", "image": WORKLOAD_IMAGE,
                                     "securityContext": RESTRICTED_CONTAINER_SECURITY}]}}},
    }


def queue_autoscaler() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "llm"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
            "minReplicas": 1, "maxReplicas": MAX_REPLICAS,
            "metrics": [{"type": "Pods", "pods": {
                "metric": {"name": "inference_queue_depth"},
                "target": {"type": "AverageValue", "averageValue": str(TARGET_DEPTH)}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0},
                         "scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }


def test_the_hpa_scales_inference_pods_on_their_queue_depth(kube: Kube, aicluster: Aicluster) -> None:
    cluster = Cluster(aicluster.work_dir(NAME) / "kubeconfig")
    address = stand_ins.host_address()
    assert address, "this host needs an address on its default route for the stand-in servers"
    apps = client.AppsV1Api(kube.api_client)
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    stop = threading.Event()
    with kube.scratch_namespace(NAMESPACE), contextlib.ExitStack() as servers:
        queues = QueueStandIns(kube, address, servers)
        kube.core.create_namespaced_service(NAMESPACE, {
            "metadata": {"name": "llm", "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"ports": [{"name": "metrics", "port": 8000}]}})
        apps.create_namespaced_deployment(NAMESPACE, inference_deployment())

        def follow() -> None:
            while not stop.wait(1):
                queues.follow_pods()

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        try:
            scale_on_queue_depth(cluster, apps, autoscaling, queues)
        finally:
            # The follower adds servers: stop it before the servers close.
            stop.set()
            follower.join()


def scale_on_queue_depth(cluster: Cluster, apps: Any, autoscaling: Any, queues: QueueStandIns) -> None:
    def depth_served() -> bool:
        try:
            data = cluster.raw_get(f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods/*/"
                                   "inference_queue_depth")
        except client.ApiException:
            return False
        return any(item["value"] not in ("0", "0m") for item in (data or {}).get("items", []))

    wait_until(depth_served, 120, "inference_queue_depth of the first pod in custom.metrics.k8s.io")
    autoscaling.create_namespaced_horizontal_pod_autoscaler(NAMESPACE, queue_autoscaler())

    def replicas(count: int) -> bool:
        deployment = apps.read_namespaced_deployment("llm", NAMESPACE)
        return deployment.spec.replicas == count and (deployment.status.ready_replicas or 0) == count

    wait_until(lambda: replicas(MAX_REPLICAS), 180,
               f"the HPA to scale to {MAX_REPLICAS} replicas at queue depth {HIGH_DEPTH} per pod")
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("llm", NAMESPACE)
    assert [m.pods.metric.name for m in hpa.status.current_metrics] == ["inference_queue_depth"]
    queues.depth = 0
    wait_until(lambda: replicas(1), 180, "the HPA to scale back to 1 replica once the queues are empty")
