"""pod_autoscaling: the HorizontalPodAutoscaler scales pods that hold accelerators on a custom GPU metric,
up when it rises and back down when it falls."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import (
    RESTRICTED_CONTAINER_SECURITY,
    RESTRICTED_POD_SECURITY,
    CheckContext,
    is_simulated,
)
from aicluster.validation.results import Outcome, Status, fail, skip

CUSTOM_METRICS = "v1beta1.custom.metrics.k8s.io"
METRIC = "gpu_utilization"
# On simulated nodes the DCGM exporter reports a held GPU's load from this pod annotation.
LOAD_ANNOTATION = "aicluster.io/simulated-gpu-utilization"
TARGET, HIGH, LOW, MAX_REPLICAS = 40, 90, 10, 3


@requirement("pod_autoscaling", "TestAcceleratorPodAutoscaling", timeout=240)
def pod_autoscaling(ctx: CheckContext) -> Outcome:
    registration = ctx.cluster.raw_get(f"/apis/apiregistration.k8s.io/v1/apiservices/{CUSTOM_METRICS}")
    if registration is None:
        raise fail(
            f"no custom metrics API: APIService {CUSTOM_METRICS} is not registered, so the HPA "
            "cannot scale on AI metrics (install prometheus-adapter or an equivalent)"
        )
    available = [
        c for c in (registration.get("status") or {}).get("conditions") or [] if c.get("type") == "Available"
    ]
    if not available or available[0].get("status") != "True":
        reason = available[0].get("message", "") if available else "no Available condition"
        raise fail(f"APIService {CUSTOM_METRICS} is not Available: {reason}")
    service = (registration.get("spec") or {}).get("service") or {}
    ctx.implementation = f"custom metrics API served by {service.get('namespace')}/{service.get('name')}"
    ctx.record(f"APIService {CUSTOM_METRICS}", f"Available; {ctx.implementation}")
    gpu_nodes = ctx.cluster.nodes("nvidia.com/gpu.present=true")
    if not gpu_nodes:
        raise fail("no node is labelled nvidia.com/gpu.present=true for the autoscaled pods")
    if not any(is_simulated(node) for node in gpu_nodes):
        raise skip(
            f"{ctx.implementation} is available; on real GPUs this check needs a workload that loads "
            "the GPU, which it does not run yet"
        )
    with ctx.namespace() as namespace:
        apps = client.AppsV1Api(ctx.cluster.api_client)
        autoscaling = client.AutoscalingV2Api(ctx.cluster.api_client)
        deployment = gpu_deployment(ctx, HIGH)
        apps.create_namespaced_deployment(namespace, deployment)
        ctx.record(
            f"created Deployment inference: pods hold one {devices.NVIDIA_RESOURCE} each, load {HIGH}%",
            "",
            deployment,
        )
        hpa = autoscaler()
        autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, hpa)
        ctx.record(f"created an HPA on the pod metric {METRIC}, target average {TARGET}", "", hpa)
        ctx.subtest(
            "ScaleUpOnRisingMetric", lambda: scale_to(ctx, apps, autoscaling, namespace, MAX_REPLICAS)
        )
        if ctx.subtests[-1].status is Status.PASS:
            apps.patch_namespaced_deployment(
                "inference",
                namespace,
                {"spec": {"template": {"metadata": {"annotations": {LOAD_ANNOTATION: str(LOW)}}}}},
            )
            ctx.record(f"lowered the pods' GPU load to {LOW}%")
            ctx.subtest("ScaleDownOnFallingMetric", lambda: scale_to(ctx, apps, autoscaling, namespace, 1))
    return ctx.verdict(
        f"the HPA scaled GPU pods 1 -> {MAX_REPLICAS} on {METRIC} at {HIGH}% and back to 1 at {LOW}%"
    )


def gpu_deployment(ctx: CheckContext, load: int) -> dict[str, Any]:
    labels = {"app": "inference", **ctx.labels()}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "inference", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "inference"}},
            "template": {
                "metadata": {"labels": labels, "annotations": {LOAD_ANNOTATION: str(load)}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": RESTRICTED_POD_SECURITY,
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [
                        {
                            "name": "server",
                            "image": ctx.options.workload_image,
                            "command": ["sleep", "3600"],
                            "securityContext": RESTRICTED_CONTAINER_SECURITY,
                            "resources": {"limits": {devices.NVIDIA_RESOURCE: "1"}},
                        }
                    ],
                },
            },
        },
    }


def autoscaler() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "inference"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inference"},
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": METRIC},
                        "target": {"type": "AverageValue", "averageValue": str(TARGET)},
                    },
                }
            ],
            # Decide at once both ways: the check watches the decision, not the damping.
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0},
                "scaleDown": {"stabilizationWindowSeconds": 0},
            },
        },
    }


def scale_to(ctx: CheckContext, apps: Any, autoscaling: Any, namespace: str, replicas: int) -> str:
    def reached() -> Any:
        deployment = apps.read_namespaced_deployment("inference", namespace)
        ready = deployment.status.ready_replicas or 0
        return deployment if deployment.spec.replicas == replicas and ready == replicas else None

    ctx.wait(reached, 180, f"the HPA to set the Deployment to {replicas} ready replicas")
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("inference", namespace)
    current = [m.pods.current.average_value for m in hpa.status.current_metrics or [] if m.pods]
    pods = ctx.cluster.core.list_namespaced_pod(namespace, label_selector="app=inference").items
    running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
    nodes = [ctx.cluster.core.read_node(p.spec.node_name) for p in running]
    ctx.uses_nodes(nodes)
    # A node's GPUs are its device plugin's extended resource or its DRA driver's published devices.
    published = devices.published_devices(ctx, devices.NVIDIA_DRIVER)
    without_gpu = [
        n.metadata.name
        for n in nodes
        if int((n.status.allocatable or {}).get(devices.NVIDIA_RESOURCE, "0")) == 0
        and not published.get(n.metadata.name)
    ]
    if without_gpu:
        raise fail(f"autoscaled pods run on nodes without GPUs: {without_gpu}")
    conditions = {c.type: f"{c.status} ({c.reason})" for c in hpa.status.conditions or []}
    ctx.record(
        f"the Deployment runs {replicas} replicas",
        f"HPA {METRIC} average {current}; desired "
        f"{hpa.status.desired_replicas}; conditions {conditions}; pods on "
        + ", ".join(sorted({p.spec.node_name for p in running})),
    )
    return f"{replicas} ready replicas on GPU nodes; {METRIC} average {current[0] if current else 'unknown'}"
