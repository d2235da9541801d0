"""Teardown of a cloud cluster that leaks nothing: first what controllers created outside
Terraform (load balancers behind Services and Gateways, nodes the autoscaler added), then
Terraform destroy, then a search for anything that still carries the cluster's tag.

The cluster autoscaler grows the pools' own autoscaling groups, so the machines it added go with
those groups in Terraform destroy; it is stopped first so that it cannot grow a group meanwhile.
Karpenter's machines belong to no group: its NodePools are deleted and their machines awaited."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aicluster.errors import AiclusterError

GATEWAY = ("gateway.networking.k8s.io", "v1", "gateways")
# Karpenter's NodePools own the NodeClaims (cloud machines) it launched; deleting a NodePool
# makes Karpenter drain and terminate them.
KARPENTER_NODE_POOL = ("karpenter.sh", "v1", "nodepools")
KARPENTER_NODE_CLAIM = ("karpenter.sh", "v1", "nodeclaims")
# The cluster autoscaler's Deployments (roles/karpenter, cluster_autoscaler.yaml.j2, labels them so).
CLUSTER_AUTOSCALER_SELECTOR = "app.kubernetes.io/name=cluster-autoscaler"


class TeardownError(AiclusterError):
    """Controller-created cloud resources that did not go away in time."""


@dataclass
class Released:
    """What the release step deleted, and why it could not look, if it could not."""

    deleted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    skipped: str | None = None


def stop_cluster_autoscalers(apps: Any) -> list[str]:
    """Scales every cluster autoscaler to zero replicas; the Deployments it scaled."""
    stopped = []
    deployments = apps.list_deployment_for_all_namespaces(label_selector=CLUSTER_AUTOSCALER_SELECTOR)
    for deployment in deployments.items:
        namespace, name = deployment.metadata.namespace, deployment.metadata.name
        if deployment.spec.replicas != 0:
            apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": 0}})
        stopped.append(f"Deployment {namespace}/{name} (cluster autoscaler)")
    return stopped


def running_autoscaler_pods(core: Any) -> list[str]:
    return [f"Pod {pod.metadata.namespace}/{pod.metadata.name} (cluster autoscaler)"
            for pod in core.list_pod_for_all_namespaces(label_selector=CLUSTER_AUTOSCALER_SELECTOR).items]


def _custom_objects(api: Any, group: str, version: str, plural: str) -> list[dict[str, Any]]:
    from kubernetes.client.exceptions import ApiException

    try:
        return list(api.list_cluster_custom_object(group, version, plural)["items"])
    except ApiException as error:
        if error.status == 404:  # the CRD is not installed: nothing of that kind exists
            return []
        raise


def _controller_resources(core: Any, custom: Any) -> list[tuple[str, Callable[[], None]]]:
    """Every object whose controller holds cloud resources, with how to delete it."""
    found: list[tuple[str, Callable[[], None]]] = []
    for service in core.list_service_for_all_namespaces().items:
        if service.spec.type == "LoadBalancer":
            namespace, name = service.metadata.namespace, service.metadata.name
            found.append((f"Service {namespace}/{name} (LoadBalancer)",
                          lambda n=namespace, s=name: core.delete_namespaced_service(s, n)))
    for gateway in _custom_objects(custom, *GATEWAY):
        namespace, name = gateway["metadata"]["namespace"], gateway["metadata"]["name"]
        found.append((f"Gateway {namespace}/{name}",
                      lambda n=namespace, g=name: custom.delete_namespaced_custom_object(*GATEWAY[:2], n,
                                                                                       GATEWAY[2], g)))
    for pool in _custom_objects(custom, *KARPENTER_NODE_POOL):
        name = pool["metadata"]["name"]
        found.append((f"NodePool {name} (Karpenter)",
                      lambda p=name: custom.delete_cluster_custom_object(*KARPENTER_NODE_POOL, p)))
    return found


def release_controller_resources(kubeconfig: Path, timeout: float = 600,
                                 poll: float = 2) -> Released:
    """Stops the cluster autoscaler, deletes LoadBalancer Services, Gateways and Karpenter
    NodePools, then waits until they, the autoscaler's pods and the machines Karpenter launched
    are gone, so their controllers free the cloud resources before Terraform removes the network
    under them."""
    import urllib3
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    if not kubeconfig.is_file():
        return Released(skipped=f"no kubeconfig at {kubeconfig}: the cluster API was never set up")
    try:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        api_client.configuration.retries = 0
        core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
        apps = client.AppsV1Api(api_client)
        stopped = stop_cluster_autoscalers(apps)
        resources = _controller_resources(core, custom)
    except (urllib3.exceptions.HTTPError, OSError, ApiException) as error:
        return Released(skipped=f"the cluster API cannot be reached ({type(error).__name__}); "
                                "load balancers its controllers created were not released")
    released = Released(stopped=stopped)
    for description, delete in resources:
        try:
            delete()
        except ApiException as error:
            if error.status != 404:
                raise
        released.deleted.append(description)

    def remaining() -> list[str]:
        still = [description for description, _ in _controller_resources(core, custom)]
        still += running_autoscaler_pods(core)
        still += [f"NodeClaim {claim['metadata']['name']} (Karpenter machine)"
                  for claim in _custom_objects(custom, *KARPENTER_NODE_CLAIM)]
        return still

    deadline = time.monotonic() + timeout
    left = remaining()
    while left and time.monotonic() < deadline:
        time.sleep(poll)
        left = remaining()
    if left:
        raise TeardownError(f"still present after {timeout:.0f}s, so Terraform destroy was not started: "
                            + "; ".join(left))
    return released


# -- leak report ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LeakSearch:
    """How one cloud's CLI lists resources by tag, and how to read its answer."""

    cli: str
    command: list[str]
    parse: Callable[[Any], list[str]]


def _aws_ids(document: Any) -> list[str]:
    return [item["ResourceARN"] for item in document.get("ResourceTagMappingList", [])]


def _gcp_ids(document: Any) -> list[str]:
    return [item.get("name", "") for item in document]


def _azure_ids(document: Any) -> list[str]:
    return [item.get("id", "") for item in document]


def leak_search(target: str, cluster_name: str, region: str | None,
                project_id: str | None) -> LeakSearch:
    """The search for resources tagged aicluster.io/cluster=<name> (GCP label aicluster_io_cluster,
    Azure tag aicluster.io_cluster)."""
    if target == "aws":
        command = ["aws", "resourcegroupstaggingapi", "get-resources", "--output", "json",
                   "--tag-filters", f"Key=aicluster.io/cluster,Values={cluster_name}"]
        if region:
            command += ["--region", region]
        return LeakSearch("aws", command, _aws_ids)
    if target == "gcp":
        return LeakSearch("gcloud", [
            "gcloud", "asset", "search-all-resources", f"--scope=projects/{project_id}",
            f"--query=labels.aicluster_io_cluster={cluster_name}", "--format=json"], _gcp_ids)
    if target == "azure":
        # Azure tag names cannot hold "/": the module writes the tag as aicluster.io_cluster.
        return LeakSearch("az", ["az", "resource", "list", "--tag",
                                 f"aicluster.io_cluster={cluster_name}", "--output", "json"], _azure_ids)
    raise ValueError(f"not a cloud: {target}")


@dataclass(frozen=True)
class LeakReport:
    leftovers: list[str]
    unchecked: str | None = None


def find_leftovers(search: LeakSearch,
                   run: Callable[[list[str]], subprocess.CompletedProcess[str]] | None = None) -> LeakReport:
    """Runs the cloud's CLI; reports what still carries the tag, or why it could not look."""
    hint = " ".join(search.command)
    if run is None:
        if shutil.which(search.cli) is None:
            return LeakReport([], f"the {search.cli} CLI is not installed; look for leftovers with: {hint}")

        def run(command: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    completed = run(search.command)
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return LeakReport([], f"{search.cli} exited {completed.returncode} ({reason}); retry with: {hint}")
    try:
        document = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        return LeakReport([], f"{search.cli} printed no JSON; retry with: {hint}")
    return LeakReport(sorted(search.parse(document)))
