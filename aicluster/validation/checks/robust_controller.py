"""robust_controller: an AI operator's CRDs are served, its webhook refuses an invalid resource, and its
controller reconciles a valid one to completion with its child objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import (
    RESTRICTED_CONTAINER_SECURITY,
    RESTRICTED_POD_SECURITY,
    CheckContext,
    condition_of,
    condition_true,
)
from aicluster.validation.results import Outcome, fail

RUN_SECONDS = 2


@dataclass(frozen=True)
class Operator:
    name: str
    group: str
    version: str
    plural: str
    kind: str
    invalid: Callable[[CheckContext], dict[str, Any]]  # a spec its webhook must refuse
    why_invalid: str
    valid: Callable[[CheckContext], list[tuple[str, dict[str, Any]]]]  # (plural, object) to create, in order
    done_condition: str  # the condition of the valid resource that says it reconciled to the end
    child: tuple[str, str, str, str]  # group, version, plural, kind of the object its controller creates


def worker_pod(ctx: CheckContext) -> dict[str, Any]:
    """A restricted pod template that runs briefly (on simulated nodes KWOK completes it)."""
    return {
        "metadata": {"annotations": {"aicluster.io/run-for": f"{RUN_SECONDS}s"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": RESTRICTED_POD_SECURITY,
            "containers": [
                {
                    "name": "node",
                    "image": ctx.options.workload_image,
                    "command": ["sleep", str(RUN_SECONDS)],
                    "securityContext": RESTRICTED_CONTAINER_SECURITY,
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"},
                    },
                }
            ],
        },
    }


def jobset_spec(ctx: CheckContext, job_name: str) -> dict[str, Any]:
    return {
        "replicatedJobs": [
            {
                "name": job_name,
                "replicas": 2,
                "template": {
                    "spec": {
                        "parallelism": 1,
                        "completions": 1,
                        "backoffLimit": 0,
                        "template": worker_pod(ctx),
                    }
                },
            }
        ]
    }


def trainer_objects(ctx: CheckContext) -> list[tuple[str, dict[str, Any]]]:
    runtime = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainingRuntime",
        "metadata": {"name": "aiconf-runtime", "labels": ctx.labels()},
        "spec": {
            "mlPolicy": {"numNodes": 1},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "replicas": 1,
                            "template": {
                                "metadata": {
                                    "labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
                                },
                                "spec": {"template": worker_pod(ctx)},
                            },
                        }
                    ]
                }
            },
        },
    }
    job = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "aiconf-train", "labels": ctx.labels()},
        "spec": {
            "runtimeRef": {
                "name": "aiconf-runtime",
                "kind": "TrainingRuntime",
                "apiGroup": "trainer.kubeflow.org",
            }
        },
    }
    return [("trainingruntimes", runtime), ("trainjobs", job)]


def trainer_invalid(ctx: CheckContext) -> dict[str, Any]:
    return {
        "runtimeRef": {
            "name": "aiconf-no-such-runtime",
            "kind": "ClusterTrainingRuntime",
            "apiGroup": "trainer.kubeflow.org",
        }
    }


def jobset_objects(ctx: CheckContext) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "jobsets",
            {
                "apiVersion": "jobset.x-k8s.io/v1alpha2",
                "kind": "JobSet",
                "metadata": {"name": "aiconf-jobset", "labels": ctx.labels()},
                "spec": jobset_spec(ctx, "workers"),
            },
        )
    ]


def jobset_invalid(ctx: CheckContext) -> dict[str, Any]:
    # Only the webhook knows that a success policy must name replicated jobs of this JobSet.
    return {
        **jobset_spec(ctx, "workers"),
        "successPolicy": {"operator": "All", "targetReplicatedJobs": ["no-such-replicated-job"]},
    }


KNOWN_OPERATORS = (
    Operator(
        "Kubeflow Trainer",
        "trainer.kubeflow.org",
        "v1alpha1",
        "trainjobs",
        "TrainJob",
        trainer_invalid,
        "a TrainJob whose runtimeRef names no ClusterTrainingRuntime",
        trainer_objects,
        "Complete",
        ("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet"),
    ),
    Operator(
        "JobSet",
        "jobset.x-k8s.io",
        "v1alpha2",
        "jobsets",
        "JobSet",
        jobset_invalid,
        "a JobSet whose success policy names a replicated job it does not have",
        jobset_objects,
        "Completed",
        ("batch", "v1", "jobs", "Job"),
    ),
)
OTHER_OPERATORS = {"rayclusters.ray.io": "KubeRay"}


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
        others = [name for crd, name in OTHER_OPERATORS.items() if ctx.cluster.crd(crd)]
        detail = f"; {', '.join(others)} found, which this suite does not drive" if others else ""
        raise fail(
            "no AI operator with CRDs found (looked for "
            + ", ".join(f"{op.name} ({op.plural}.{op.group})" for op in KNOWN_OPERATORS)
            + ")"
            + detail
        )
    ctx.implementation = ", ".join(op.name for op in present)
    with ctx.namespace() as namespace:
        for operator in present:
            crd = ctx.cluster.api_client.sanitize_for_serialization(
                ctx.cluster.crd(f"{operator.plural}.{operator.group}")
            )
            prefix = operator.name.replace(" ", "")
            ctx.subtest(f"{prefix}/CRDRegistered", lambda op=operator, c=crd: crd_registered(ctx, op, c))
            ctx.subtest(f"{prefix}/WebhookOperational", lambda op=operator: webhook_operational(ctx, op))
            ctx.subtest(
                f"{prefix}/WebhookRejectsInvalidCR", lambda op=operator: webhook_rejects(ctx, op, namespace)
            )
            ctx.subtest(
                f"{prefix}/ControllerReconcilesCR", lambda op=operator: reconciles(ctx, op, namespace)
            )
    return ctx.verdict(
        f"{ctx.implementation}: CRDs established, webhooks refuse invalid resources, "
        "valid resources reconcile to completion"
    )


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
    ctx.record(f"validating webhooks for {operator.group}", ", ".join(f"{n}/{h.name}" for n, h in hooks))
    if without_ca:
        raise fail(f"webhook configurations without a caBundle: {', '.join(without_ca)}")
    return f"{len(hooks)} validating webhooks with a CA bundle"


def webhook_rejects(ctx: CheckContext, operator: Operator, namespace: str) -> str:
    body = {
        "apiVersion": f"{operator.group}/{operator.version}",
        "kind": operator.kind,
        "metadata": {"name": "aiconf-invalid", "labels": ctx.labels()},
        "spec": operator.invalid(ctx),
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


def reconciles(ctx: CheckContext, operator: Operator, namespace: str) -> str:
    objects = operator.valid(ctx)
    for plural, body in objects:
        ctx.cluster.custom.create_namespaced_custom_object(
            operator.group, operator.version, namespace, plural, body
        )
        ctx.record(f"created {body['kind']} {body['metadata']['name']}", "", body)
    name = objects[-1][1]["metadata"]["name"]

    def finished() -> dict[str, Any] | None:
        current = ctx.cluster.custom.get_namespaced_custom_object(
            operator.group, operator.version, namespace, operator.plural, name
        )
        if condition_true(current, "Failed"):
            raise fail(
                f"{operator.kind} {name} failed: {(condition_of(current, 'Failed') or {}).get('message')}"
            )
        return current if condition_true(current, operator.done_condition) else None

    done = ctx.wait(finished, 120, f"{operator.kind} {name} to reach {operator.done_condition}=True")
    group, version, plural, kind = operator.child
    children = (
        ctx.cluster.list_custom(group, version, plural, namespace)
        if group != "batch"
        else [
            ctx.cluster.api_client.sanitize_for_serialization(job)
            for job in ctx.cluster.batch.list_namespaced_job(namespace).items
        ]
    )
    owned = [
        c["metadata"]["name"]
        for c in children
        if any(o.get("name") == name for o in c["metadata"].get("ownerReferences") or [])
    ]
    ctx.record(
        f"{operator.kind} {name} reconciled",
        f"{operator.done_condition}=True; its {kind}s: {owned}",
        {"status": done.get("status")},
    )
    if not owned:
        raise fail(f"{operator.kind} {name} reports {operator.done_condition} but owns no {kind}")
    nodes = {
        p.spec.node_name for p in ctx.cluster.core.list_namespaced_pod(namespace).items if p.spec.node_name
    }
    ctx.uses_nodes([ctx.cluster.core.read_node(n) for n in nodes])
    return f"{operator.kind} {name} reached {operator.done_condition} through {len(owned)} {kind}(s)"
