"""cluster_autoscaling: a pending accelerator pod grows its pool by a node; the pool shrinks back after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.utils import parse_quantity

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, node_ready, pod_manifest
from aicluster.validation.results import Outcome, Status, fail

GPU = "nvidia.com/gpu"
KARPENTER = ("karpenter.sh", "v1", "nodepools")
# Fillers keep baseline nodes busy so that only a new node can take the trigger pod; more than this
# means the pool is too big to test without disturbing it.
MAX_FILLERS = 32


@dataclass(frozen=True)
class Pool:
    label: str  # key=value that selects the pool's nodes
    description: str
    limits: str  # the autoscaler's limits for the pool, as a reader would want them
    full: bool  # the pool has reached one of its limits: it cannot grow


def karpenter_accelerator_pools(ctx: CheckContext) -> list[tuple[dict[str, Any], Pool]]:
    pools = []
    for nodepool in ctx.cluster.list_custom(*KARPENTER):
        template = nodepool["spec"].get("template", {})
        labels = (template.get("metadata") or {}).get("labels") or {}
        limits = nodepool["spec"].get("limits") or {}
        accelerator = labels.get(f"{GPU}.present") == "true" or GPU in limits
        if not accelerator:
            continue
        name = nodepool["metadata"]["name"]
        used = (nodepool.get("status") or {}).get("resources") or {}
        full = any(
            parse_quantity(str(used.get(resource, "0"))) >= parse_quantity(str(limit))
            for resource, limit in limits.items()
        )
        text = ", ".join(
            f"{resource} {used.get(resource, '0')}/{limit}" for resource, limit in limits.items()
        )
        pools.append(
            (
                nodepool,
                Pool(
                    f"karpenter.sh/nodepool={name}", f"Karpenter NodePool {name}", text or "no limits", full
                ),
            )
        )
    return pools


def choose_pool(ctx: CheckContext) -> Pool:
    wanted = ctx.options.autoscaler_node_pool_label
    pools = karpenter_accelerator_pools(ctx)
    ctx.record(
        "listed the autoscaled accelerator pools",
        ", ".join(f"{p.description} (used/limit: {p.limits})" for _, p in pools) or "none",
    )
    if wanted:
        key, _, value = wanted.partition("=")
        for nodepool, pool in pools:
            template_labels = (nodepool["spec"].get("template", {}).get("metadata") or {}).get("labels") or {}
            if pool.label == wanted or template_labels.get(key) == value:
                return Pool(wanted, pool.description, pool.limits, pool.full)
        return Pool(wanted, f"nodes labelled {wanted}", "unknown", False)
    if not pools:
        raise fail(
            "the autoscaler manages no accelerator pool (no NodePool with nvidia.com/gpu); "
            "pass --autoscaler-node-pool-label to name one"
        )
    growable = [pool for _, pool in pools if not pool.full]
    if not growable:
        raise fail(
            "every autoscaled accelerator pool is at its limit, so none can grow: "
            + "; ".join(f"{p.description} (used/limit: {p.limits})" for _, p in pools)
        )
    # The smallest pool: fewest baseline nodes to keep busy.
    return min(growable, key=lambda pool: len(ready_nodes(ctx, pool)))


def ready_nodes(ctx: CheckContext, pool: Pool) -> list[Any]:
    return [n for n in ctx.cluster.nodes(pool.label) if node_ready(n) and not n.spec.unschedulable]


def free_gpus(ctx: CheckContext, node: Any) -> int:
    allocatable = int((node.status.allocatable or {}).get(GPU, "0"))
    pods = ctx.cluster.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node.metadata.name}"
    ).items
    used = sum(
        int((c.resources.requests or {}).get(GPU, "0"))
        for p in pods
        if p.status.phase not in ("Succeeded", "Failed")
        for c in p.spec.containers
    )
    return max(allocatable - used, 0)


@requirement("cluster_autoscaling", "TestAcceleratorClusterAutoscaling", timeout=180)
def cluster_autoscaling(ctx: CheckContext) -> Outcome:
    if ctx.cluster.crd("nodepools.karpenter.sh"):
        ctx.implementation = "Karpenter"
    elif ctx.cluster.core.list_config_map_for_all_namespaces(
        field_selector="metadata.name=cluster-autoscaler-status"
    ).items:
        ctx.implementation = "Kubernetes Cluster Autoscaler"
    elif not ctx.options.autoscaler_node_pool_label:
        # The conditional MUST: the checklist asks for this only where the platform has an autoscaler.
        raise Outcome(
            Status.NOT_APPLICABLE,
            "no cluster autoscaler found (neither Karpenter NodePools nor a "
            "cluster-autoscaler-status ConfigMap)",
        )
    ctx.record("detected the autoscaler", ctx.implementation or "named by --autoscaler-node-pool-label")
    pool = choose_pool(ctx)
    key, _, value = pool.label.partition("=")
    baseline = ready_nodes(ctx, pool)
    baseline_names = {n.metadata.name for n in baseline}
    ctx.uses_nodes(baseline)
    ctx.record(
        f"chose {pool.description}",
        f"selector {pool.label}; baseline {len(baseline)} Ready nodes: "
        + (", ".join(sorted(baseline_names)) or "none"),
    )
    with ctx.namespace() as namespace:
        fillers = sum(free_gpus(ctx, node) for node in baseline)
        if fillers > MAX_FILLERS:
            raise Outcome(
                Status.SKIP,
                f"{pool.description} has {fillers} free GPUs on its baseline nodes; "
                "name a smaller pool with --autoscaler-node-pool-label",
            )
        fill_baseline(ctx, namespace, baseline)
        ctx.subtest("ScaleUp", lambda: scale_up(ctx, namespace, key, value, pool, baseline_names))
        if ctx.subtests[-1].status is Status.PASS:
            ctx.subtest("ScaleDown", lambda: scale_down(ctx, namespace, pool, baseline_names))
    return ctx.verdict(
        f"{pool.description} grew by a node for a pending GPU pod and shrank back to {len(baseline)} nodes"
    )


def fill_baseline(ctx: CheckContext, namespace: str, baseline: list[Any]) -> None:
    """One pod per free GPU of the baseline nodes, so that the trigger pod needs a new node."""
    count = 0
    for node in baseline:
        for index in range(free_gpus(ctx, node)):
            ctx.cluster.core.create_namespaced_pod(
                namespace,
                pod_manifest(
                    f"filler-{node.metadata.name}-{index}"[:63],
                    image=ctx.options.workload_image,
                    command=["sleep", "3600"],
                    labels={"role": "filler"},
                    resources={"limits": {GPU: "1"}},
                    node_selector={"kubernetes.io/hostname": node.metadata.labels["kubernetes.io/hostname"]},
                ),
            )
            count += 1
    if count:
        ctx.wait(
            lambda: all(
                p.spec.node_name
                for p in ctx.cluster.core.list_namespaced_pod(namespace, label_selector="role=filler").items
            ),
            60,
            "the filler pods to be bound",
        )
    ctx.record("filled the baseline nodes' free GPUs", f"{count} filler pods, one GPU each")


def scale_up(ctx: CheckContext, namespace: str, key: str, value: str, pool: Pool, baseline: set[str]) -> str:
    # Only the pool label: the autoscaler must pick the pool from the pod's GPU request.
    trigger = pod_manifest(
        "trigger",
        image=ctx.options.workload_image,
        command=["sleep", "3600"],
        labels={"role": "trigger"},
        resources={"limits": {GPU: "1"}},
        node_selector={key: value},
    )
    ctx.cluster.core.create_namespaced_pod(namespace, trigger)
    ctx.record("created a pod requesting one GPU, selecting the pool by its label only", "", trigger)

    def unschedulable() -> bool:
        pod = ctx.cluster.core.read_namespaced_pod("trigger", namespace)
        return any(
            c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
            for c in pod.status.conditions or []
        ) or bool(pod.spec.node_name)

    ctx.wait(unschedulable, 30, "the scheduler to report the pod Unschedulable")
    pod = ctx.cluster.core.read_namespaced_pod("trigger", namespace)
    if pod.spec.node_name in baseline:
        raise fail(f"the pod was placed on baseline node {pod.spec.node_name}: no scale-up was needed")
    ctx.record("the scheduler found no node", "PodScheduled=False, reason Unschedulable")
    new_nodes = ctx.wait(
        lambda: [n for n in ready_nodes(ctx, pool) if n.metadata.name not in baseline],
        120,
        f"{pool.description} to gain a Ready node",
    )
    node = new_nodes[0]
    ctx.uses_nodes(new_nodes)
    ctx.record(
        f"the pool gained node {node.metadata.name}",
        f"providerID {node.spec.provider_id}; allocatable {GPU}={node.status.allocatable.get(GPU)}; "
        f"product {node.metadata.labels.get(GPU + '.product', 'unlabelled')}",
    )
    running = ctx.wait(
        lambda: (
            (p := ctx.cluster.core.read_namespaced_pod("trigger", namespace)).status.phase == "Running" and p
        ),
        60,
        "the pod to run on the new node",
    )
    if running.spec.node_name in baseline:
        raise fail(f"the pod ran on baseline node {running.spec.node_name}, not on a new node")
    events = ctx.cluster.core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=trigger"
    ).items
    ctx.record(
        "the pod runs on the new node",
        f"node {running.spec.node_name}; events: "
        + ", ".join(sorted({e.reason for e in events if e.reason})),
    )
    return f"a new node ({running.spec.node_name}) joined and runs the pending GPU pod"


def scale_down(ctx: CheckContext, namespace: str, pool: Pool, baseline: set[str]) -> str:
    ctx.cluster.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    ctx.record("deleted the trigger and filler pods")
    ctx.wait(
        lambda: {n.metadata.name for n in ready_nodes(ctx, pool)} <= baseline,
        240,
        f"{pool.description} to return to its {len(baseline)} baseline nodes",
    )
    remaining = {n.metadata.name for n in ready_nodes(ctx, pool)}
    if remaining != baseline:
        raise fail(f"a baseline node was replaced: now {sorted(remaining)}, before {sorted(baseline)}")
    ctx.record("the pool returned to its baseline", ", ".join(sorted(remaining)) or "no nodes")
    return f"the pool shrank back to {len(baseline)} nodes"
