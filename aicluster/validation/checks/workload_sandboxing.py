"""workload_sandboxing: a RuntimeClass runs pods in a sandbox isolated from the host kernel."""

from __future__ import annotations

from typing import Any

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import (
    CheckContext,
    finished_pod,
    is_simulated,
    node_ready,
    pod_manifest,
    run_pod,
)
from aicluster.validation.results import Outcome, Status, fail, skip

SANDBOX_HANDLERS = ("runsc", "gvisor", "kata", "sandboxed", "quark", "krun")
# Prints the kernel the container sees; a sandbox (gVisor's Sentry, a Kata VM) has its own.
KERNEL_SCRIPT = "echo kernel=$(uname -r)"


@requirement("workload_sandboxing", "TestWorkloadSandboxing", timeout=180)
def workload_sandboxing(ctx: CheckContext) -> Outcome:
    classes = ctx.cluster.node_api.list_runtime_class().items
    sandboxes = [
        c for c in classes if any(h in (c.handler or "") or h in c.metadata.name for h in SANDBOX_HANDLERS)
    ]
    ctx.record(
        "listed RuntimeClasses", ", ".join(f"{c.metadata.name} ({c.handler})" for c in classes) or "none"
    )
    if not sandboxes:
        raise fail("no sandbox RuntimeClass (gVisor, Kata, ...) is offered")
    runtime_class = sandboxes[0]
    ctx.implementation = ", ".join(f"{c.metadata.name} ({c.handler})" for c in sandboxes)
    node = sandbox_node(ctx, runtime_class)
    ctx.uses_nodes([node])
    with ctx.namespace() as namespace:
        pod = run_sandboxed(ctx, namespace, runtime_class.metadata.name, node)
        if is_simulated(node):
            return skip(
                f"not verifiable in simulation: RuntimeClass {runtime_class.metadata.name} "
                f"(handler {runtime_class.handler}) is offered and a pod naming it was admitted under the "
                f"restricted level and bound to {pod.spec.node_name}, but simulated nodes run no container, "
                "so the sandbox's kernel cannot be compared with the host's"
            )
        seen = sandbox_kernel(ctx, namespace, pod)
    host = node.status.node_info.kernel_version
    ctx.record("compared kernels", f"pod saw {seen}; node {node.metadata.name} runs {host}")
    if seen == host:
        raise fail(f"the pod in RuntimeClass {runtime_class.metadata.name} saw the host's kernel {host}: "
                   "it is not sandboxed")
    return Outcome(Status.PASS, f"a pod in {runtime_class.metadata.name} saw kernel {seen}, "
                                f"not the host's {host}")


def sandbox_node(ctx: CheckContext, runtime_class: Any) -> Any:
    """A Ready, schedulable node that the RuntimeClass may run on (CPU nodes first)."""
    scheduling = runtime_class.scheduling
    required = (scheduling.node_selector if scheduling else None) or {}
    selector = ",".join(f"{key}={value}" for key, value in required.items())
    nodes = [n for n in ctx.cluster.nodes(selector) if node_ready(n) and not n.spec.unschedulable]
    if not nodes:
        raise fail(f"no Ready node can run RuntimeClass {runtime_class.metadata.name}")
    return sorted(nodes, key=lambda n: ("nvidia.com/gpu.product" in (n.metadata.labels or {}),
                                        n.metadata.name))[0]


def run_sandboxed(ctx: CheckContext, namespace: str, runtime_class: str, node: Any) -> Any:
    manifest = pod_manifest(
        "sandboxed",
        image=ctx.options.workload_image,
        command=["sh", "-c", KERNEL_SCRIPT],
        node_selector={"kubernetes.io/hostname": node.metadata.labels["kubernetes.io/hostname"]},
    )
    manifest["spec"]["runtimeClassName"] = runtime_class
    return run_pod(ctx, namespace, manifest)


def sandbox_kernel(ctx: CheckContext, namespace: str, pod: Any) -> str:
    finished = finished_pod(ctx, namespace, "sandboxed")
    log = ctx.cluster.core.read_namespaced_pod_log("sandboxed", namespace)
    ctx.record("read the sandboxed pod's log", log.strip()[:300])
    if finished.status.phase != "Succeeded":
        raise fail(f"the sandboxed pod ended {finished.status.phase} on {pod.spec.node_name}")
    kernel = next((line.split("=", 1)[1] for line in log.splitlines() if line.startswith("kernel=")), "")
    if not kernel:
        raise fail("the sandboxed pod printed no kernel version")
    return kernel
