"""advanced_inference_ingress: a Gateway API Inference Extension implementation routes to model pools."""

from __future__ import annotations

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, condition_true
from aicluster.validation.results import Outcome, Status, fail

INFERENCE_POOL_CRDS = (
    "inferencepools.inference.networking.k8s.io",
    "inferencepools.inference.networking.x-k8s.io",
)


@requirement("advanced_inference_ingress", "TestAdvancedInferenceIngress", timeout=60)
def advanced_inference_ingress(ctx: CheckContext) -> Outcome:
    found = [name for name in INFERENCE_POOL_CRDS if ctx.cluster.crd(name)]
    if not found:
        raise fail("Gateway API Inference Extension is not installed: no InferencePool CRD")
    crd = ctx.cluster.api_client.sanitize_for_serialization(ctx.cluster.crd(found[0]))
    if not condition_true(crd, "Established"):
        raise fail(f"CRD {found[0]} is not Established")
    ctx.implementation = f"Gateway API Inference Extension ({found[0]})"
    group = found[0].split(".", 1)[1]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
    pools = ctx.cluster.list_custom(group, version, "inferencepools")
    ctx.record(f"listed InferencePools ({group}/{version})", f"{len(pools)} pools")
    if not pools:
        raise fail("no InferencePool exists, so no route is model-aware")
    return Outcome(Status.PASS, f"{len(pools)} InferencePools served by {ctx.implementation}")
