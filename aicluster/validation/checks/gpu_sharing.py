"""gpu_sharing: a static GPU sharing strategy (time-slicing or MIG partitions) is offered."""

from __future__ import annotations

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, is_simulated
from aicluster.validation.results import Outcome, Status, fail, skip


@requirement("gpu_sharing", "TestGPUSharing", timeout=60)
def gpu_sharing(ctx: CheckContext) -> Outcome:
    shared = []
    gpu_nodes = ctx.cluster.nodes("nvidia.com/gpu.present=true")
    for node in gpu_nodes:
        labels = node.metadata.labels
        replicas = int(labels.get("nvidia.com/gpu.replicas", "1") or "1")
        mig = sorted(k for k in (node.status.allocatable or {}) if k.startswith("nvidia.com/mig-"))
        if replicas > 1:
            shared.append(
                (
                    node,
                    f"time-slicing, {replicas} replicas per GPU "
                    f"({node.status.allocatable.get(devices.NVIDIA_RESOURCE)} schedulable)",
                )
            )
        elif mig:
            shared.append((node, f"MIG: {', '.join(mig)}"))
    mig_class = [c["metadata"]["name"] for c in devices.device_classes(ctx) if "mig" in c["metadata"]["name"]]
    # A MIG DeviceClass shares GPUs only where a driver publishes MIG devices for it to select.
    mig_published = devices.published_devices(ctx, devices.NVIDIA_DRIVER, "mig") if mig_class else {}
    for node in gpu_nodes:
        if mig_published.get(node.metadata.name):
            shared.append((node, f"DRA MIG: {len(mig_published[node.metadata.name])} MIG devices published"))
    if not shared:
        raise fail(
            "no GPU sharing offered: no node advertises time-slicing replicas or MIG resources, and no "
            "driver publishes MIG devices for a MIG DeviceClass"
        )
    ctx.implementation = ", ".join(sorted({text.split(",")[0].split(":")[0] for _, text in shared}))
    ctx.record(
        "GPU sharing found",
        "; ".join(f"{n.metadata.name}: {t}" for n, t in shared[:6])
        + (f"; DeviceClasses {mig_class}" if mig_published else ""),
    )
    nodes = [n for n, _ in shared]
    ctx.uses_nodes(nodes)
    if not nodes or any(is_simulated(n) for n in nodes):
        raise skip(f"{ctx.implementation} is configured; that pods share one physical GPU needs real GPUs")
    return Outcome(Status.PASS, f"{ctx.implementation} on {len(nodes)} nodes")
