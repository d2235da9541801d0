"""virtualized_accelerator: vGPUs are exposed under the same resource as physical GPUs."""

from __future__ import annotations

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome, fail, skip

VGPU_LABELS = ("nvidia.com/vgpu.present", "nvidia.com/vgpu.host-driver-version")


@requirement("virtualized_accelerator", "TestVirtualizedAccelerator", timeout=30)
def virtualized_accelerator(ctx: CheckContext) -> Outcome:
    nodes = [n for n in ctx.cluster.nodes() if any(k in n.metadata.labels for k in VGPU_LABELS)]
    if not nodes:
        raise fail(
            "no node carries vGPU labels (" + ", ".join(VGPU_LABELS) + "): no virtualized accelerators"
        )
    ctx.implementation = "NVIDIA vGPU"
    ctx.uses_nodes(nodes)
    raise skip(f"{len(nodes)} nodes advertise vGPUs; running a workload on one needs the vGPU itself")
