"""Small helpers over the Kubernetes client for integration tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config

T = TypeVar("T")
RESTRICTED_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Never pulled: KWOK runs no containers. Named so that a reader knows what would run.
WORKLOAD_IMAGE = "registry.k8s.io/pause:3.10"


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    def pods(self, namespace: str, selector: str) -> list[Any]:
        return self.core.list_namespaced_pod(namespace, label_selector=selector).items

    def workloads(self, namespace: str) -> list[dict[str, Any]]:
        return self.custom.list_namespaced_custom_object(
            "kueue.x-k8s.io", "v1beta2", namespace, "workloads")["items"]

    def workload_of(self, namespace: str, job_name: str) -> dict[str, Any] | None:
        for workload in self.workloads(namespace):
            owners = workload["metadata"].get("ownerReferences", [])
            if any(owner["kind"] == "Job" and owner["name"] == job_name for owner in owners):
                return workload
        return None

    @contextlib.contextmanager
    def scratch_namespace(self, name: str) -> Iterator[str]:
        """A namespace restricted by Pod Security, deleted with everything in it afterwards."""
        self.core.create_namespace({"metadata": {"name": name, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted"}}})
        try:
            yield name
        finally:
            self.core.delete_namespace(name)
            wait_until(lambda: not [n for n in self.core.list_namespace().items
                                    if n.metadata.name == name], 90, f"namespace {name} to go")

    def delete_jobs(self, namespace: str) -> None:
        self.batch.delete_collection_namespaced_job(namespace, propagation_policy="Background")
        wait_until(lambda: not self.batch.list_namespaced_job(namespace).items
                   and not self.core.list_namespaced_pod(namespace).items, timeout=60,
                   what=f"jobs and pods of {namespace} to be deleted")


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in obj.get("status", {}).get("conditions", []) or []:
        if item["type"] == kind:
            return item
    return None


def condition_true(obj: dict[str, Any] | None, kind: str) -> bool:
    if obj is None:
        return False
    found = condition(obj, kind)
    return bool(found and found["status"] == "True")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def gpu_job(name: str, queue: str, pods: int, gpus_per_pod: int, run_for: str = "0s",
            priority: str | None = None) -> dict[str, Any]:
    """A gang of `pods` pods that each need `gpus_per_pod` GPUs, queued in `queue`."""
    labels = {"kueue.x-k8s.io/queue-name": queue}
    if priority:
        labels["kueue.x-k8s.io/priority-class"] = priority
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"job": name},
                             "annotations": {"aicluster.io/run-for": run_for}},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "train",
                        "image": WORKLOAD_IMAGE,
                        "securityContext": RESTRICTED_CONTAINER_SECURITY,
                        "resources": {
                            "requests": {"cpu": "1", "memory": "1Gi",
                                         "nvidia.com/gpu": str(gpus_per_pod)},
                            "limits": {"nvidia.com/gpu": str(gpus_per_pod)},
                        },
                    }],
                },
            },
        },
    }
