"""gang_scheduling: a gang that fits runs whole; one that cannot fit starts no pod, then runs whole."""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, condition_of, condition_true
from aicluster.validation.results import Outcome, Status, fail, skip

KUEUE = "kueue.x-k8s.io"
OTHER_GANG_SCHEDULERS = {
    "podgroups.scheduling.volcano.sh": "Volcano",
    "podgroups.scheduling.run.ai": "KAI Scheduler",
}
CPU_PER_POD = "500m"
MEMORY_PER_POD = "64Mi"
# Seconds within which every pod of an admitted gang must be scheduled.
CO_SCHEDULING_WINDOW = 30


def served_version(ctx: CheckContext, crd_name: str) -> str | None:
    crd = ctx.cluster.crd(crd_name)
    if crd is None or not condition_true(
        ctx.cluster.api_client.sanitize_for_serialization(crd), "Established"
    ):
        return None
    served = [v.name for v in crd.spec.versions if v.served]
    return "v1beta2" if "v1beta2" in served else (served[0] if served else None)


@requirement("gang_scheduling", "TestGangScheduling", timeout=90)
def gang_scheduling(ctx: CheckContext) -> Outcome:
    version = served_version(ctx, f"clusterqueues.{KUEUE}")
    if version is None:
        others = [name for crd, name in OTHER_GANG_SCHEDULERS.items() if ctx.cluster.crd(crd)]
        if others:
            raise skip(f"{', '.join(others)} detected; this suite drives Kueue gangs only")
        raise fail("no gang scheduler found: neither Kueue, Volcano nor KAI Scheduler CRDs are served")
    ctx.implementation = f"Kueue ({KUEUE}/{version})"
    ctx.record("detected Kueue", f"clusterqueues.{KUEUE} established, serving {version}")
    with ctx.namespace() as namespace:
        queue = create_queue(ctx, namespace, version, cpu="1")
        ctx.subtest("PositiveGangAdmittedWhole", lambda: positive(ctx, namespace, queue, version))
        ctx.subtest("NegativeGangNotPartiallyScheduled", lambda: negative(ctx, namespace, queue, version))
        if ctx.subtests[-1].status is Status.PASS:
            ctx.subtest(
                "BlockedGangAdmittedWholeWhenQuotaAllows",
                lambda: admitted_later(ctx, namespace, queue, version),
            )
    return ctx.verdict("a fitting gang ran whole; a gang above the quota started no pod, then ran whole")


def create_queue(ctx: CheckContext, namespace: str, version: str, cpu: str) -> str:
    """A flavor, ClusterQueue and LocalQueue of this check alone, so that no tenant's quota interferes."""
    name = f"aiconf-gang-{ctx.run_id}"
    labels = ctx.labels()
    custom = ctx.cluster.custom
    custom.create_cluster_custom_object(
        KUEUE,
        version,
        "resourceflavors",
        {
            "apiVersion": f"{KUEUE}/{version}",
            "kind": "ResourceFlavor",
            "metadata": {"name": name, "labels": labels},
        },
    )
    ctx.on_cleanup(lambda: custom.delete_cluster_custom_object(KUEUE, version, "resourceflavors", name))
    cluster_queue = {
        "apiVersion": f"{KUEUE}/{version}",
        "kind": "ClusterQueue",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory"],
                    "flavors": [
                        {
                            "name": name,
                            "resources": [
                                {"name": "cpu", "nominalQuota": cpu},
                                {"name": "memory", "nominalQuota": "1Gi"},
                            ],
                        }
                    ],
                }
            ],
        },
    }
    custom.create_cluster_custom_object(KUEUE, version, "clusterqueues", cluster_queue)
    ctx.on_cleanup(lambda: custom.delete_cluster_custom_object(KUEUE, version, "clusterqueues", name))
    custom.create_namespaced_custom_object(
        KUEUE,
        version,
        namespace,
        "localqueues",
        {
            "apiVersion": f"{KUEUE}/{version}",
            "kind": "LocalQueue",
            "metadata": {"name": name, "labels": labels},
            "spec": {"clusterQueue": name},
        },
    )
    ctx.record(
        "created a ResourceFlavor, ClusterQueue and LocalQueue",
        f"quota: cpu {cpu}, memory 1Gi",
        cluster_queue,
    )
    ctx.wait(
        lambda: condition_true(
            custom.get_cluster_custom_object(KUEUE, version, "clusterqueues", name), "Active"
        ),
        30,
        f"ClusterQueue {name} to become Active",
    )
    return name


def gang_job(ctx: CheckContext, name: str, queue: str, pods: int) -> dict[str, Any]:
    seconds = 3
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {**ctx.labels(), "kueue.x-k8s.io/queue-name": queue}},
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            # Kueue unsuspends the Job when it admits the whole gang.
            "suspend": True,
            "template": {
                "metadata": {
                    "labels": {"gang": name},
                    # On simulated nodes, KWOK completes the pod after this time.
                    "annotations": {"aicluster.io/run-for": f"{seconds}s"},
                },
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "worker",
                            "image": ctx.options.workload_image,
                            "command": ["sleep", str(seconds)],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": CPU_PER_POD, "memory": MEMORY_PER_POD},
                                "limits": {"cpu": CPU_PER_POD, "memory": MEMORY_PER_POD},
                            },
                        }
                    ],
                },
            },
        },
    }


def submit(ctx: CheckContext, namespace: str, job: dict[str, Any]) -> None:
    try:
        ctx.cluster.batch.create_namespaced_job(namespace, job)
    except ApiException as error:
        raise fail(
            f"the API server refused the gang's Job: {error.reason}: {error.body or ''}"[:400]
        ) from error
    ctx.record(
        f"created Job {job['metadata']['name']}",
        f"{job['spec']['parallelism']} pods of {CPU_PER_POD} CPU each",
        job,
    )


def workload_of(ctx: CheckContext, namespace: str, version: str, job: str) -> dict[str, Any] | None:
    for workload in ctx.cluster.list_custom(KUEUE, version, "workloads", namespace):
        if any(
            o.get("kind") == "Job" and o.get("name") == job
            for o in workload["metadata"].get("ownerReferences", [])
        ):
            return workload
    return None


def bound_pods(ctx: CheckContext, namespace: str, job: str) -> list[Any]:
    pods = ctx.cluster.core.list_namespaced_pod(namespace, label_selector=f"gang={job}").items
    return [p for p in pods if p.spec.node_name or p.status.phase in ("Running", "Succeeded")]


def positive(ctx: CheckContext, namespace: str, queue: str, version: str) -> str:
    job = "gang-fits"
    submit(ctx, namespace, gang_job(ctx, job, queue, pods=2))
    workload = ctx.wait(
        lambda: (w := workload_of(ctx, namespace, version, job)) and condition_true(w, "Admitted") and w,
        60,
        "Kueue to admit the gang (is the Kueue controller running?)",
    )
    ctx.record(
        "Kueue admitted the gang's Workload",
        "Admitted=True",
        {"conditions": workload["status"].get("conditions")},
    )
    pods = ctx.wait(
        lambda: len(p := bound_pods(ctx, namespace, job)) == 2 and p,
        60,
        "both pods of the gang to be bound to nodes",
    )
    nodes = [ctx.cluster.core.read_node(p.spec.node_name) for p in pods]
    ctx.uses_nodes(nodes)
    spread = scheduled_spread(pods)
    ctx.record(
        "every pod of the gang was bound",
        ", ".join(f"{p.metadata.name} -> {p.spec.node_name}" for p in pods)
        + f"; PodScheduled within {spread:.1f}s",
    )
    if spread > CO_SCHEDULING_WINDOW:
        raise fail(f"the gang's pods were scheduled {spread:.0f}s apart (window {CO_SCHEDULING_WINDOW}s)")
    ctx.wait(
        lambda: condition_true(
            ctx.cluster.api_client.sanitize_for_serialization(
                ctx.cluster.batch.read_namespaced_job(job, namespace)
            ),
            "Complete",
        ),
        90,
        "the gang's Job to complete",
    )
    ctx.record(f"Job {job} completed", "Complete=True")
    return "2 of 2 pods admitted together, bound and completed"


def negative(ctx: CheckContext, namespace: str, queue: str, version: str) -> str:
    job = "gang-too-big"
    # 3 pods of 500m against a 1 CPU quota: two would fit on their own; the gang must not start.
    submit(ctx, namespace, gang_job(ctx, job, queue, pods=3))
    window = ctx.options.negative_window
    deadline = time.monotonic() + window
    observations = 0
    while time.monotonic() < deadline:
        bound = bound_pods(ctx, namespace, job)
        if bound:
            raise fail(
                f"{len(bound)} of 3 pods of a gang above the quota were placed: "
                + ", ".join(f"{p.metadata.name} on {p.spec.node_name}" for p in bound)
            )
        observations += 1
        time.sleep(1)
    workload = workload_of(ctx, namespace, version, job)
    if workload is None:
        raise fail("Kueue created no Workload for the gang (is the Kueue controller running?)")
    if condition_true(workload, "QuotaReserved") or condition_true(workload, "Admitted"):
        raise fail("Kueue reserved quota for a gang that exceeds it")
    pending = condition_of(workload, "QuotaReserved") or {}
    ctx.record(
        f"watched the gang for {window:.0f}s ({observations} observations)",
        "no pod bound or running; Workload QuotaReserved="
        f"{pending.get('status', 'unset')}: {pending.get('message', '')}",
    )
    return (
        f"0 of 3 pods placed during {window:.0f}s; Workload not admitted ({pending.get('reason', 'Pending')})"
    )


def admitted_later(ctx: CheckContext, namespace: str, queue: str, version: str) -> str:
    job = "gang-too-big"
    ctx.cluster.custom.patch_cluster_custom_object(
        KUEUE,
        version,
        "clusterqueues",
        queue,
        {
            "spec": {
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory"],
                        "flavors": [
                            {
                                "name": queue,
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "2"},
                                    {"name": "memory", "nominalQuota": "1Gi"},
                                ],
                            }
                        ],
                    }
                ]
            }
        },
    )
    ctx.record(f"raised ClusterQueue {queue}'s CPU quota to 2", "the blocked gang now fits")
    pods = ctx.wait(
        lambda: len(p := bound_pods(ctx, namespace, job)) == 3 and p,
        60,
        "the blocked gang to be admitted and all 3 pods bound",
    )
    spread = scheduled_spread(pods)
    ctx.record(
        "the whole gang was admitted and bound",
        ", ".join(f"{p.metadata.name} -> {p.spec.node_name}" for p in pods)
        + f"; PodScheduled within {spread:.1f}s",
    )
    if spread > CO_SCHEDULING_WINDOW:
        raise fail(f"the gang's pods were scheduled {spread:.0f}s apart (window {CO_SCHEDULING_WINDOW}s)")
    return f"all 3 pods bound within {spread:.1f}s once the quota allowed the whole gang"


def scheduled_spread(pods: list[Any]) -> float:
    """Seconds between the first and the last PodScheduled of a gang."""
    times = [
        c.last_transition_time
        for p in pods
        for c in p.status.conditions or []
        if c.type == "PodScheduled" and c.status == "True"
    ]
    return (max(times) - min(times)).total_seconds() if len(times) > 1 else 0.0
