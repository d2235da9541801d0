"""accelerator_metrics: a per-accelerator metrics endpoint exposes utilization and memory (and more)."""

from __future__ import annotations

from typing import Any

from aicluster.validation import metrics_text
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, is_simulated
from aicluster.validation.results import Outcome, Status, fail, skip

EXPORTER_HINTS = ("dcgm-exporter", "dcgm_exporter")


def exporter_services(ctx: CheckContext) -> list[Any]:
    return [
        s
        for s in ctx.cluster.core.list_service_for_all_namespaces().items
        if any(hint in s.metadata.name for hint in EXPORTER_HINTS)
        or (s.metadata.labels or {}).get("app.kubernetes.io/name") in EXPORTER_HINTS
        or (s.metadata.labels or {}).get("app") in ("nvidia-dcgm-exporter", "dcgm-exporter")
    ]


@requirement("accelerator_metrics", "TestAcceleratorPerformanceMetrics", timeout=60)
def accelerator_metrics(ctx: CheckContext) -> Outcome:
    services = exporter_services(ctx)
    if not services:
        raise fail("no accelerator metrics endpoint found (no DCGM exporter Service in any namespace)")
    service = services[0]
    port = service.spec.ports[0]
    ctx.implementation = (
        f"DCGM exporter (Service {service.metadata.namespace}/{service.metadata.name}:{port.port})"
    )
    path = f"Service {service.metadata.namespace}/{service.metadata.name}:{port.port} /metrics"
    text = ctx.cluster.service_get(service, port, "/metrics")
    if text is None:
        raise fail(f"GET {path} answered nothing: the exporter has no ready endpoint")
    exposition = metrics_text.parse(text)
    kinds = exposition.kinds()
    ctx.record(
        f"GET {path}",
        f"{len(exposition.samples)} samples, {len(exposition.families)} typed families, "
        f"{len(exposition.devices())} devices; "
        + "; ".join(f"{kind}: {', '.join(names[:3]) or 'none'}" for kind, names in kinds.items()),
    )
    if exposition.errors:
        raise fail("the endpoint is not valid Prometheus text: " + "; ".join(exposition.errors[:3]))
    if not exposition.devices():
        raise fail(
            "no sample carries a per-accelerator label (" + ", ".join(metrics_text.DEVICE_LABELS) + ")"
        )
    missing = [kind for kind in metrics_text.REQUIRED_KINDS if not kinds[kind]]
    if missing:
        raise fail(f"no per-accelerator {' or '.join(missing)} metric")
    optional_missing = [kind for kind in ("temperature", "power", "interconnect") if not kinds[kind]]
    # The nodes whose GPUs the samples describe (the exporter's Hostname label, as DCGM sets it).
    hostnames = sorted(
        {labels.get("Hostname") or labels.get("hostname") or "" for _, labels, _ in exposition.samples} - {""}
    )
    nodes = [node for node in ctx.cluster.nodes() if node.metadata.name in hostnames]
    ctx.uses_nodes(nodes)
    summary = (
        f"{len(exposition.devices())} accelerators with utilization ({kinds['utilization'][0]}) and memory "
        f"({kinds['memory'][0]})"
        + (f"; not exposed: {', '.join(optional_missing)}" if optional_missing else "")
    )
    if any(is_simulated(node) for node in nodes) or not nodes:
        raise skip(
            f"endpoint and format verified ({summary}), but the values come from simulated devices: "
            "real metrics under load need real GPUs"
        )
    return Outcome(Status.PASS, summary)
