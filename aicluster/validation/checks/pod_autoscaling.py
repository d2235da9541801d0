"""pod_autoscaling: the HorizontalPodAutoscaler scales accelerator pods on a custom metric."""

from __future__ import annotations

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome, fail, skip

CUSTOM_METRICS = "v1beta1.custom.metrics.k8s.io"


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
    listing = ctx.cluster.raw_get("/apis/custom.metrics.k8s.io/v1beta1") or {}
    pod_metrics = sorted(
        r["name"].split("/", 1)[1] for r in listing.get("resources", []) if r["name"].startswith("pods/")
    )
    ctx.record(
        "GET /apis/custom.metrics.k8s.io/v1beta1",
        f"{len(pod_metrics)} pod metrics: " + ", ".join(pod_metrics[:10]),
    )
    if not pod_metrics:
        raise fail("the custom metrics API serves no pod metric for the HPA to use")
    raise skip(
        f"{ctx.implementation} offers {len(pod_metrics)} pod metrics; driving one above its target "
        "needs accelerator pods that run and report it"
    )
