"""How a cluster offers accelerators: DRA DeviceClasses and ResourceSlices, or device-plugin resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aicluster.validation.cluster import CheckContext, node_ready

DRA_GROUP, DRA_VERSION = "resource.k8s.io", "v1"
NVIDIA_DRIVER = "gpu.nvidia.com"
NVIDIA_RESOURCE = "nvidia.com/gpu"
# A device node of an NVIDIA GPU, as the upstream test counts them.
DEVICE_COUNT_SCRIPT = (
    'n=0; for d in /dev/nvidia[0-9]*; do [ -e "$d" ] && n=$((n+1)); done; echo RESULT: ACCELERATOR_COUNT=$n'
)


@dataclass(frozen=True)
class DraNode:
    node: Any
    devices: list[str]


def device_classes(ctx: CheckContext) -> list[dict[str, Any]]:
    return ctx.cluster.list_custom(DRA_GROUP, DRA_VERSION, "deviceclasses")


def class_selects_driver(device_class: dict[str, Any], driver: str) -> bool:
    if device_class["metadata"]["name"] == driver:
        return True
    expressions = [
        s.get("cel", {}).get("expression", "") for s in device_class["spec"].get("selectors") or []
    ]
    return any(driver in expression for expression in expressions)


def published_devices(ctx: CheckContext, driver: str, device_type: str = "gpu") -> dict[str, list[str]]:
    """Node name -> names of the devices of a type (the NVIDIA driver's "gpu" or "mig"; a device
    without the attribute counts as a whole GPU) that the driver publishes there."""
    devices: dict[str, list[str]] = {}
    for item in ctx.cluster.list_custom(DRA_GROUP, DRA_VERSION, "resourceslices"):
        spec = item["spec"]
        if spec.get("driver") != driver or not spec.get("nodeName"):
            continue
        for device in spec.get("devices") or []:
            kind = ((device.get("attributes") or {}).get("type") or {}).get("string", "gpu")
            if kind == device_type:
                devices.setdefault(spec["nodeName"], []).append(device["name"])
    return devices


def dra_nodes(ctx: CheckContext, driver: str) -> list[DraNode]:
    """Ready, schedulable nodes where the driver publishes at least one whole GPU."""
    published = published_devices(ctx, driver)
    return [
        DraNode(node, published[node.metadata.name])
        for node in ctx.cluster.nodes()
        if published.get(node.metadata.name) and node_ready(node) and not node.spec.unschedulable
    ]


def device_plugin_nodes(ctx: CheckContext, resource: str, exclude: set[str]) -> list[Any]:
    """Ready nodes whose kubelet (device plugin) advertises the extended resource."""
    return [
        node
        for node in ctx.cluster.nodes()
        if node.metadata.name not in exclude
        and node_ready(node)
        and not node.spec.unschedulable
        and int((node.status.allocatable or {}).get(resource, "0")) > 0
    ]


def claim_template(name: str, device_class: str, count: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": f"{DRA_GROUP}/{DRA_VERSION}",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [
                        {"name": "accelerator", "exactly": {"deviceClassName": device_class, "count": count}}
                    ]
                }
            }
        },
    }


def pod_claims(ctx: CheckContext, namespace: str, pod_name: str) -> list[dict[str, Any]]:
    """The ResourceClaims generated for a pod from its templates."""
    claims = ctx.cluster.list_custom(DRA_GROUP, DRA_VERSION, "resourceclaims", namespace)
    return [
        c
        for c in claims
        if any(
            o.get("kind") == "Pod" and o.get("name") == pod_name
            for o in c["metadata"].get("ownerReferences") or []
        )
    ]


def allocated_devices(claim: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(driver, pool, device) of each device allocated to a claim."""
    results = (((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}).get(
        "results"
    ) or []
    return [(r["driver"], r["pool"], r["device"]) for r in results]


def device_count_from_log(log: str) -> int | None:
    for line in log.splitlines():
        if line.startswith("RESULT: ACCELERATOR_COUNT="):
            return int(line.split("=", 1)[1].strip() or "0")
    return None
