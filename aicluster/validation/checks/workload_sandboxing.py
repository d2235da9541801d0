"""workload_sandboxing: a RuntimeClass runs pods in a sandbox isolated from the host kernel."""

from __future__ import annotations

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext
from aicluster.validation.results import Outcome, fail, skip

SANDBOX_HANDLERS = ("runsc", "gvisor", "kata", "sandboxed", "quark", "krun")


@requirement("workload_sandboxing", "TestWorkloadSandboxing", timeout=60)
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
    ctx.implementation = ", ".join(f"{c.metadata.name} ({c.handler})" for c in sandboxes)
    raise skip(
        f"{ctx.implementation} offered; comparing a sandboxed pod's kernel with the host's needs nodes "
        "that run containers"
    )
