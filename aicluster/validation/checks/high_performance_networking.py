"""high_performance_networking: specialised NICs are published for pods to claim or attach."""

from __future__ import annotations

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome, fail, skip

NETWORK_DRIVERS = ("dra.net", "networking.k8s.io")


@requirement("high_performance_networking", "TestHighPerformanceNetworking", timeout=30)
def high_performance_networking(ctx: CheckContext) -> Outcome:
    network_slices = [
        s
        for s in ctx.cluster.list_custom(devices.DRA_GROUP, devices.DRA_VERSION, "resourceslices")
        if any(d in s["spec"].get("driver", "") for d in NETWORK_DRIVERS)
        or any("rdma" in str(dev.get("attributes", {})).lower() for dev in s["spec"].get("devices") or [])
    ]
    multus = ctx.cluster.crd("network-attachment-definitions.k8s.cni.cncf.io")
    if not network_slices and not multus:
        raise fail(
            "no specialised networking: no DRA network driver publishes NICs and Multus is not installed"
        )
    ctx.implementation = "DRA network devices" if network_slices else "Multus"
    raise skip(f"{ctx.implementation} present; attaching a NIC and moving data over it needs the hardware")
