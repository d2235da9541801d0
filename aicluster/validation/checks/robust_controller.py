"""robust_controller: an AI operator's CRDs are served, its webhook rejects an invalid resource, and its
controller reconciles a valid one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, condition_true
from aicluster.validation.results import Outcome, fail


@dataclass(frozen=True)
class Operator:
    name: str
    group: str
    version: str
    plural: str
    kind: str
    invalid_spec: dict[str, Any]  # a spec its webhook must refuse
    why_invalid: str


KNOWN_OPERATORS = (
    Operator(
        "KubeRay",
        "ray.io",
        "v1",
        "rayclusters",
        "RayCluster",
        {"workerGroupSpecs": []},
        "a RayCluster without headGroupSpec",
    ),
    Operator(
        "Kubeflow Trainer",
        "trainer.kubeflow.org",
        "v1alpha1",
        "trainjobs",
        "TrainJob",
        {
            "runtimeRef": {
                "name": "aiconf-no-such-runtime",
                "kind": "ClusterTrainingRuntime",
                "apiGroup": "trainer.kubeflow.org",
            }
        },
        "a TrainJob whose runtimeRef names no ClusterTrainingRuntime",
    ),
    Operator(
        "JobSet",
        "jobset.x-k8s.io",
        "v1alpha2",
        "jobsets",
        "JobSet",
        {"replicatedJobs": []},
        "a JobSet without replicatedJobs",
    ),
)


def webhooks_for(ctx: CheckContext, group: str) -> list[tuple[str, Any]]:
    found = []
    for configuration in ctx.cluster.admission.list_validating_webhook_configuration().items:
        for hook in configuration.webhooks or []:
            if any(group in (rule.api_groups or []) for rule in hook.rules or []):
                found.append((configuration.metadata.name, hook))
    return found


@requirement("robust_controller", "TestRobustCRDControllerOperation", timeout=300)
def robust_controller(ctx: CheckContext) -> Outcome:
    present = [op for op in KNOWN_OPERATORS if ctx.cluster.crd(f"{op.plural}.{op.group}")]
    if not present:
        raise fail(
            "no AI operator with CRDs found (looked for "
            + ", ".join(f"{op.name} ({op.plural}.{op.group})" for op in KNOWN_OPERATORS)
            + ")"
        )
    operator = present[0]
    ctx.implementation = operator.name
    crd = ctx.cluster.api_client.sanitize_for_serialization(
        ctx.cluster.crd(f"{operator.plural}.{operator.group}")
    )
    ctx.subtest("CRDRegistered", lambda: crd_registered(ctx, operator, crd))
    ctx.subtest("WebhookOperational", lambda: webhook_operational(ctx, operator))
    with ctx.namespace() as namespace:
        ctx.subtest("WebhookRejectsInvalidCR", lambda: webhook_rejects(ctx, operator, namespace))
    return ctx.verdict(f"{operator.name}: CRD established, webhook registered and refusing invalid resources")


def crd_registered(ctx: CheckContext, operator: Operator, crd: dict[str, Any]) -> str:
    if not (condition_true(crd, "Established") and condition_true(crd, "NamesAccepted")):
        raise fail(f"CRD {operator.plural}.{operator.group} is not Established and NamesAccepted")
    ctx.record(f"CRD {operator.plural}.{operator.group}", "Established, NamesAccepted")
    return "Established and NamesAccepted"


def webhook_operational(ctx: CheckContext, operator: Operator) -> str:
    hooks = webhooks_for(ctx, operator.group)
    if not hooks:
        raise fail(
            f"no ValidatingWebhookConfiguration covers {operator.group}: invalid resources are not refused"
        )
    without_ca = [name for name, hook in hooks if not hook.client_config.ca_bundle]
    ctx.record("validating webhooks for the operator's group", ", ".join(f"{n}/{h.name}" for n, h in hooks))
    if without_ca:
        raise fail(f"webhook configurations without a caBundle: {', '.join(without_ca)}")
    return f"{len(hooks)} validating webhooks with a CA bundle"


def webhook_rejects(ctx: CheckContext, operator: Operator, namespace: str) -> str:
    body = {
        "apiVersion": f"{operator.group}/{operator.version}",
        "kind": operator.kind,
        "metadata": {"name": "aiconf-invalid", "labels": ctx.labels()},
        "spec": operator.invalid_spec,
    }
    try:
        ctx.cluster.custom.create_namespaced_custom_object(
            operator.group, operator.version, namespace, operator.plural, body
        )
    except ApiException as error:
        message = str(error.body or error.reason)
        ctx.record(f"created {operator.why_invalid}", f"refused: HTTP {error.status}: {message[:300]}", body)
        if "admission webhook" in message or "denied the request" in message:
            return f"the webhook refused {operator.why_invalid}"
        raise fail(f"refused, but not by the webhook (HTTP {error.status}: {message[:200]})") from error
    raise fail(f"the API server accepted {operator.why_invalid}: no webhook refused it")
