"""secure_accelerator_access: accelerators reach a pod only through a device-plugin or DRA request."""

from __future__ import annotations

from typing import Any

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, finished_pod, is_simulated, pod_manifest, run_pod
from aicluster.validation.results import Outcome, Source, Status, fail, skip

HARDWARE_ONLY = (
    "which device nodes a container sees (/dev/nvidia*) is decided by the container runtime "
    "on a real GPU node; simulated nodes run no containers"
)


@requirement("secure_accelerator_access", "TestSecureAcceleratorAccess", timeout=120)
def secure_accelerator_access(ctx: CheckContext) -> Outcome:
    classes = devices.device_classes(ctx)
    published = devices.published_devices(ctx, devices.NVIDIA_DRIVER)
    nvidia_classes = [c for c in classes if devices.class_selects_driver(c, devices.NVIDIA_DRIVER)]
    if published and not nvidia_classes:
        raise fail(
            f"driver {devices.NVIDIA_DRIVER} publishes {sum(map(len, published.values()))} devices on "
            f"{len(published)} nodes, but no DeviceClass selects them: no workload can request them"
        )
    dra = devices.dra_nodes(ctx, devices.NVIDIA_DRIVER) if nvidia_classes else []
    dra_names = {n.node.metadata.name for n in dra}
    plugin = devices.device_plugin_nodes(ctx, devices.NVIDIA_RESOURCE, exclude=set(published))
    modes = (["DRA"] if dra else []) + (["device plugin"] if plugin else [])
    if not modes:
        raise fail(
            "no Ready node offers NVIDIA GPUs: no DRA ResourceSlice of gpu.nvidia.com and no "
            "allocatable nvidia.com/gpu"
        )
    ctx.implementation = " and ".join(modes)
    ctx.record(
        "resolved the allocation modes",
        f"DRA on {sorted(dra_names) or 'no nodes'}; device plugin "
        f"on {sorted(n.metadata.name for n in plugin) or 'no nodes'}",
    )
    with ctx.namespace() as namespace:
        if dra:
            node = dra[0].node
            device_class = nvidia_classes[0]["metadata"]["name"]
            ctx.uses_nodes([node])
            ctx.cluster.custom.create_namespaced_custom_object(
                devices.DRA_GROUP,
                devices.DRA_VERSION,
                namespace,
                "resourceclaimtemplates",
                devices.claim_template("one-gpu", device_class),
            )
            ctx.record(f"created ResourceClaimTemplate one-gpu (DeviceClass {device_class}, 1 device)")
            ctx.subtest("DRA/PositiveAccessTest", lambda: dra_positive(ctx, namespace, node))
            ctx.subtest("DRA/CrossPodIsolationTest", lambda: dra_cross_pod(ctx, namespace, node))
            ctx.subtest("DRA/MultiContainerIsolationTest", lambda: dra_multi_container(ctx, namespace, node))
            ctx.subtest("DRA/NegativeIsolationTest", lambda: negative(ctx, namespace, node, "dra"))
        if plugin:
            node = plugin[0]
            ctx.uses_nodes([node])
            ctx.subtest("DevicePlugin/PositiveAccessTest", lambda: plugin_positive(ctx, namespace, node))
            ctx.subtest(
                "DevicePlugin/NegativeIsolationTest", lambda: negative(ctx, namespace, node, "plugin")
            )
    outcome = ctx.verdict(f"{ctx.implementation}: each pod saw exactly the accelerators it requested")
    if outcome.status is Status.PASS and ctx.source is Source.SIMULATED:
        return skip(
            f"allocation verified at the API ({len(ctx.subtests)} subtests passed: claims and "
            f"extended resources reach only the pods that request them); not proven here: "
            f"{HARDWARE_ONLY}"
        )
    return outcome


def on_node(node: Any) -> dict[str, str]:
    return {"kubernetes.io/hostname": node.metadata.labels["kubernetes.io/hostname"]}


def container_counts(ctx: CheckContext, namespace: str, pod: Any) -> dict[str, int | None]:
    """Device nodes each container counted; on real nodes only (waits for the pod to finish)."""
    name = pod.metadata.name
    finished = finished_pod(ctx, namespace, name)
    counts = {}
    for container in finished.spec.containers:
        log = ctx.cluster.core.read_namespaced_pod_log(name, namespace, container=container.name)
        counts[container.name] = devices.device_count_from_log(log)
        ctx.record(f"read the log of {name}/{container.name}", log.strip()[:300])
    return counts


def counting_pod(ctx: CheckContext, name: str, node: Any, **kwargs: Any) -> dict[str, Any]:
    return pod_manifest(
        name,
        image=ctx.options.workload_image,
        node_selector=on_node(node),
        command=["sh", "-c", devices.DEVICE_COUNT_SCRIPT],
        **kwargs,
    )


def claim_of(ctx: CheckContext, namespace: str, pod_name: str) -> dict[str, Any]:
    claims = ctx.wait(
        lambda: [c for c in devices.pod_claims(ctx, namespace, pod_name) if devices.allocated_devices(c)],
        60,
        f"the claim of {pod_name} to be allocated",
    )
    if len(claims) != 1:
        raise fail(f"pod {pod_name} has {len(claims)} allocated claims, expected 1")
    claim = claims[0]
    reserved = [r.get("name") for r in (claim.get("status") or {}).get("reservedFor") or []]
    if pod_name not in reserved:
        raise fail(f"claim {claim['metadata']['name']} is reserved for {reserved}, not for {pod_name}")
    return claim


def dra_positive(ctx: CheckContext, namespace: str, node: Any) -> str:
    manifest = counting_pod(
        ctx,
        "dra-positive",
        node,
        claims=[{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}],
        resources={"claims": [{"name": "gpu"}]},
    )
    pod = run_pod(ctx, namespace, manifest)
    claim = claim_of(ctx, namespace, "dra-positive")
    allocated = devices.allocated_devices(claim)
    ctx.record(
        f"claim {claim['metadata']['name']} allocated",
        ", ".join("/".join(d) for d in allocated),
        {"allocation": claim["status"]["allocation"], "reservedFor": claim["status"]["reservedFor"]},
    )
    if len(allocated) != 1 or allocated[0][1] != node.metadata.name:
        raise fail(f"expected one device from {node.metadata.name}'s pool, got {allocated}")
    if not is_simulated(node):
        seen = container_counts(ctx, namespace, pod)["main"]
        if seen != 1:
            raise fail(f"the container saw {seen} GPU device nodes, expected 1")
        return "the container saw exactly 1 GPU"
    device = allocated[0][2]
    return f"claim allocated exactly one device ({device}) on {node.metadata.name}, reserved for the pod"


def dra_cross_pod(ctx: CheckContext, namespace: str, node: Any) -> str:
    run_pod(
        ctx,
        namespace,
        counting_pod(
            ctx,
            "dra-neighbour",
            node,
            claims=[{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}],
            resources={"claims": [{"name": "gpu"}]},
        ),
    )
    first = devices.allocated_devices(claim_of(ctx, namespace, "dra-positive"))
    second = devices.allocated_devices(claim_of(ctx, namespace, "dra-neighbour"))
    ctx.record("compared the two pods' devices", f"dra-positive: {first}; dra-neighbour: {second}")
    if set(first) & set(second):
        raise fail(f"two pods on {node.metadata.name} were given the same device {set(first) & set(second)}")
    return f"two pods on one node got different devices ({first[0][2]}, {second[0][2]})"


def dra_multi_container(ctx: CheckContext, namespace: str, node: Any) -> str:
    sidecar = {
        "name": "without-claim",
        "image": ctx.options.workload_image,
        "command": ["sh", "-c", devices.DEVICE_COUNT_SCRIPT],
        "securityContext": manifest_security(),
    }
    manifest = counting_pod(
        ctx,
        "dra-two-containers",
        node,
        claims=[{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}],
        resources={"claims": [{"name": "gpu"}]},
        extra_containers=[sidecar],
    )
    pod = run_pod(ctx, namespace, manifest)
    claim_of(ctx, namespace, "dra-two-containers")
    granted = {c.name: [claim.name for claim in (c.resources.claims or [])] for c in pod.spec.containers}
    ctx.record("read which containers hold the claim", str(granted))
    if granted != {"main": ["gpu"], "without-claim": []}:
        raise fail(f"the claim reached other containers than the one that requested it: {granted}")
    if not is_simulated(node):
        counts = container_counts(ctx, namespace, pod)
        if counts != {"main": 1, "without-claim": 0}:
            raise fail(f"device nodes seen per container: {counts}, expected main 1 and without-claim 0")
        return "the claiming container saw 1 GPU, its neighbour 0"
    return "the claim is granted to the requesting container only"


def manifest_security() -> dict[str, Any]:
    return pod_manifest("x", image="x")["spec"]["containers"][0]["securityContext"]


def plugin_positive(ctx: CheckContext, namespace: str, node: Any) -> str:
    before = used_gpus(ctx, node)
    pod = run_pod(
        ctx,
        namespace,
        counting_pod(ctx, "plugin-positive", node, resources={"limits": {devices.NVIDIA_RESOURCE: "1"}}),
    )
    if pod.spec.node_name != node.metadata.name:
        raise fail(f"the pod ran on {pod.spec.node_name}, not on {node.metadata.name}")
    after = used_gpus(ctx, node)
    ctx.record(f"GPUs requested on {node.metadata.name}", f"before {before}, with the pod {after}")
    if after != before + 1:
        raise fail(f"the node's requested GPUs went from {before} to {after}, expected +1")
    if not is_simulated(node):
        seen = container_counts(ctx, namespace, pod)["main"]
        if seen != 1:
            raise fail(f"the container saw {seen} GPU device nodes, expected 1")
        return "the container saw exactly 1 GPU"
    return f"the scheduler accounted exactly one {devices.NVIDIA_RESOURCE} on {node.metadata.name}"


def used_gpus(ctx: CheckContext, node: Any) -> int:
    pods = ctx.cluster.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node.metadata.name}"
    ).items
    return sum(
        int((c.resources.limits or {}).get(devices.NVIDIA_RESOURCE, "0"))
        for p in pods
        if p.status.phase not in ("Succeeded", "Failed")
        for c in p.spec.containers
    )


def negative(ctx: CheckContext, namespace: str, node: Any, mode: str) -> str:
    name = f"{mode}-negative"
    # The same node, the GPU taint tolerated, and no request: it must get nothing.
    pod = run_pod(ctx, namespace, counting_pod(ctx, name, node))
    claims = devices.pod_claims(ctx, namespace, name)
    requested = {c.name: dict(c.resources.limits or {}) for c in pod.spec.containers}
    ctx.record(f"inspected pod {name}", f"claims: {len(claims)}; limits: {requested}")
    if claims or any(devices.NVIDIA_RESOURCE in limits for limits in requested.values()):
        raise fail(f"a pod without a request was given accelerators: claims {claims}, limits {requested}")
    if not is_simulated(node):
        seen = container_counts(ctx, namespace, pod)["main"]
        if seen != 0:
            raise fail(f"a container without a request saw {seen} GPU device nodes")
        return "the container without a request saw 0 GPUs"
    return f"a pod without a request on {node.metadata.name} holds no claim and no GPU"
