"""Measures the scheduling stack on the large spec (1,000 simulated GPU nodes), prints a table.

    .venv/bin/python benchmarks/scheduling.py [--jobs 500]

- Kueue admission throughput: time from 500 queued single-GPU Jobs to all admitted (and their
  pods bound), decided by the real Kueue controller and kube-scheduler.
- Node autoscaling: time from a pending GPU pod to a Ready new node and the pod Running on it,
  decided by Karpenter (KWOK provider), on the device-plugin L4 pool that has room to grow.
- DRA: time for the simulated kubelet plugin to publish the 750 H100 nodes' ResourceSlices.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aicluster.console import render_table  # noqa: E402
from aicluster.paths import INVENTORIES_DIR  # noqa: E402
from tests.integration.kube import (  # noqa: E402
    RESTRICTED_CONTAINER_SECURITY,
    WORKLOAD_IMAGE,
    Kube,
    condition_true,
    gpu_job,
    wait_until,
)

INVOKE = str(Path(sys.executable).parent / "invoke")
SPEC = INVENTORIES_DIR / "local-large.yaml"


def invoke(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    completed = subprocess.run([INVOKE, *args], cwd=REPO, env=env, capture_output=True, text=True,
                               check=False)
    if completed.returncode != 0:
        sys.exit(f"invoke {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return time.monotonic() - started


def admission(kube: Kube, jobs: int) -> tuple[float, float, float]:
    namespace, queue = "research", "research"
    started = time.monotonic()
    for index in range(jobs):
        kube.batch.create_namespaced_job(namespace, gpu_job(f"bench-{index}", queue, 1, 1,
                                                            run_for="3600s"))
    submitted = time.monotonic() - started

    def admitted() -> bool:
        workloads = kube.workloads(namespace)
        return len(workloads) == jobs and all(condition_true(w, "Admitted") for w in workloads)

    wait_until(admitted, 900, f"{jobs} workloads to be admitted", interval=2)
    all_admitted = time.monotonic() - started
    wait_until(lambda: sum(1 for p in kube.core.list_namespaced_pod(namespace).items
                           if p.status.phase == "Running") == jobs, 900, "every pod to run",
               interval=2)
    return submitted, all_admitted, time.monotonic() - started


def scale_up(kube: Kube) -> tuple[float, float]:
    namespace = "inference"
    before = {n.metadata.name for n in kube.core.list_node(label_selector="aicluster.io/pool=l4").items}
    pods = 0
    # Fill the pool's free GPUs first, so that the measured pod needs a new node.
    free = sum(1 for n in kube.core.list_node(label_selector="aicluster.io/pool=l4").items)
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "spec": {"nodeSelector": {"aicluster.io/pool": "l4"},
                 "securityContext": {"runAsNonRoot": True,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                 "containers": [{"name": "main", "image": WORKLOAD_IMAGE,
                                 "securityContext": RESTRICTED_CONTAINER_SECURITY,
                                 "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
    }
    for index in range(free):
        kube.core.create_namespaced_pod(namespace, {**pod, "metadata": {"name": f"fill-{index}"}})
        pods += 1
    wait_until(lambda: sum(1 for p in kube.core.list_namespaced_pod(namespace).items
                           if p.status.phase == "Running") == pods, 600, "the pool to fill",
               interval=2)
    started = time.monotonic()
    kube.core.create_namespaced_pod(namespace, {**pod, "metadata": {"name": "trigger"}})

    def new_ready_node() -> bool:
        for node in kube.core.list_node(label_selector="aicluster.io/pool=l4").items:
            if node.metadata.name not in before and any(
                    c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
                return True
        return False

    wait_until(new_ready_node, 300, "a new Ready L4 node", interval=0.5)
    node_ready = time.monotonic() - started
    wait_until(lambda: kube.core.read_namespaced_pod("trigger", namespace).status.phase == "Running",
               300, "the trigger pod to run", interval=0.5)
    return node_ready, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="aicluster-bench-"))
    env = {**os.environ, "AICLUSTER_STATE_DIR": str(state)}
    rows: list[tuple[str, str]] = []
    try:
        build = invoke(env, "build", "--spec", str(SPEC), "--skip-validate")
        rows.append(("build, large spec (1,000 GPU nodes + Kueue, DRA, Karpenter)", f"{build:.1f}"))
        kube = Kube(state / "clusters" / "local-large" / "kubeconfig")
        slices = kube.custom.list_cluster_custom_object("resource.k8s.io", "v1", "resourceslices")
        rows.append(("ResourceSlices published (count)", str(len(slices["items"]))))
        submitted, admitted, running = admission(kube, args.jobs)
        rows.append((f"submit {args.jobs} single-GPU Jobs", f"{submitted:.1f}"))
        rows.append((f"{args.jobs} Jobs queued -> all admitted by Kueue", f"{admitted:.1f}"))
        rows.append((f"{args.jobs} Jobs queued -> all pods Running", f"{running:.1f}"))
        node_ready, pod_running = scale_up(kube)
        rows.append(("pending GPU pod -> new node Ready (Karpenter)", f"{node_ready:.1f}"))
        rows.append(("pending GPU pod -> pod Running on the new node", f"{pod_running:.1f}"))
    finally:
        subprocess.run([INVOKE, "destroy", "--spec", str(SPEC)], cwd=REPO, env=env,
                       capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    print(render_table(["MEASUREMENT", "SECONDS"], rows))


if __name__ == "__main__":
    main()
