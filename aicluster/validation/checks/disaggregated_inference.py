"""disaggregated_inference: a serving stack runs separate prefill and decode instances."""

from __future__ import annotations

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome, fail, skip

SERVING_CRDS = {
    "dynamographdeployments.nvidia.com": "NVIDIA Dynamo",
    "leaderworkersets.leaderworkerset.x-k8s.io": "LeaderWorkerSet (vLLM prefill/decode)",
    "llminferenceservices.serving.kserve.io": "llm-d / KServe",
}


@requirement("disaggregated_inference", "TestDisaggregatedInference", timeout=30)
def disaggregated_inference(ctx: CheckContext) -> Outcome:
    found = [name for crd, name in SERVING_CRDS.items() if ctx.cluster.crd(crd)]
    if not found:
        raise fail(
            "no disaggregated serving stack installed (looked for " + ", ".join(SERVING_CRDS.values()) + ")"
        )
    ctx.implementation = ", ".join(found)
    raise skip(f"{ctx.implementation} installed; serving a model with separate prefill and decode needs GPUs")
