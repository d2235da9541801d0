"""driver_runtime_management: accelerator nodes advertise driver and runtime versions that can be verified."""

from __future__ import annotations

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, is_simulated
from aicluster.validation.results import Outcome, Status, fail, skip

DRIVER_LABELS = ("nvidia.com/cuda.driver-version.full", "nvidia.com/cuda.driver.major")
RUNTIME_LABEL = "nvidia.com/cuda.runtime-version.full"


@requirement("driver_runtime_management", "TestAcceleratorDriverRuntimeManagement", timeout=60)
def driver_runtime_management(ctx: CheckContext) -> Outcome:
    advertised: dict[str, str] = {}
    for item in ctx.cluster.list_custom(devices.DRA_GROUP, devices.DRA_VERSION, "resourceslices"):
        for device in item["spec"].get("devices") or []:
            attributes = device.get("attributes") or {}
            if "driverVersion" in attributes:
                cuda = attributes.get("cudaDriverVersion", {}).get("version", "?")
                advertised[item["spec"]["nodeName"]] = (
                    f"DRA driverVersion {attributes['driverVersion'].get('version')}"
                    f", cudaDriverVersion {cuda}"
                )
                break
    gpu_nodes = [n for n in ctx.cluster.nodes("nvidia.com/gpu.present=true")]
    for node in gpu_nodes:
        labels = node.metadata.labels
        if node.metadata.name not in advertised and any(key in labels for key in DRIVER_LABELS):
            driver = labels.get(DRIVER_LABELS[0]) or ".".join(
                labels.get(f"nvidia.com/cuda.driver.{part}", "?") for part in ("major", "minor", "rev")
            )
            advertised[node.metadata.name] = (
                f"GFD driver {driver}, CUDA runtime {labels.get(RUNTIME_LABEL, '?')}"
            )
    if not gpu_nodes:
        raise fail("no node is labelled nvidia.com/gpu.present=true")
    silent = sorted(n.metadata.name for n in gpu_nodes if n.metadata.name not in advertised)
    ctx.implementation = "DRA device attributes and GPU feature discovery labels"
    ctx.record(
        "read the advertised driver and runtime versions",
        "; ".join(f"{node}: {text}" for node, text in sorted(advertised.items())[:6]),
    )
    if silent:
        raise fail(f"GPU nodes advertise no driver version: {', '.join(silent[:5])}")
    ctx.uses_nodes(gpu_nodes)
    runtimes = sorted({n.status.node_info.container_runtime_version for n in gpu_nodes})
    ctx.record("container runtimes of the GPU nodes", ", ".join(runtimes))
    if any(is_simulated(n) for n in gpu_nodes):
        raise skip(
            f"{len(advertised)} GPU nodes advertise driver versions ({next(iter(advertised.values()))}); "
            "that the runtime injects a working driver of that version needs a real GPU"
        )
    return Outcome(Status.PASS, f"{len(advertised)} GPU nodes advertise driver and runtime versions")
