"""The cluster under validation: API access, scratch namespaces, cleanup, and the evidence recorder."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from aicluster.errors import ClusterUnreachableError
from aicluster.validation.results import EvidenceStep, Outcome, Source, Status, Subtest, now

T = TypeVar("T")
RUN_LABEL = "aicluster.io/validation-run"
CHECK_LABEL = "aicluster.io/validation-check"
# KWOK marks the nodes it simulates with this annotation.
SIMULATED_NODE_ANNOTATION = "kwok.x-k8s.io/node"
RESTRICTED_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


@dataclass
class ValidationOptions:
    timeout_scale: float = 1.0
    negative_window: float = 30.0
    workload_image: str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
    autoscaler_node_pool_label: str | None = None


class Cluster:
    """API clients for one kubeconfig, and the facts every check needs about the cluster."""

    def __init__(self, kubeconfig: Path) -> None:
        if not kubeconfig.is_file():
            raise ClusterUnreachableError(f"kubeconfig {kubeconfig} does not exist")
        try:
            self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        except (config.ConfigException, yaml.YAMLError, ValueError) as error:
            raise ClusterUnreachableError(f"kubeconfig {kubeconfig} is not usable: {error}") from error
        self.api_client.configuration.retries = 2
        self.kubeconfig = kubeconfig
        self.core = client.CoreV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.apiext = client.ApiextensionsV1Api(self.api_client)
        self.admission = client.AdmissionregistrationV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self.node_api = client.NodeV1Api(self.api_client)

    def server_version(self) -> str:
        try:
            return client.VersionApi(self.api_client).get_code(_request_timeout=10).git_version
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
            raise ClusterUnreachableError(
                f"cannot reach the API server of {self.kubeconfig}: {getattr(error, 'reason', None) or error}"
            ) from error

    def _get(self, path: str, accept: str) -> Any:
        """A GET of an API path with this kubeconfig's credentials; the response, read."""
        method, url, headers = self.api_client.param_serialize(
            "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"]
        )[:3]
        response = self.api_client.call_api(method, url, headers, _request_timeout=30)
        response.read()
        return response

    def raw_get(self, path: str) -> Any:
        """GET an API path; None when it is not served (404)."""
        try:
            response = self._get(path, "application/json")
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        if response.status == 404:
            return None
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.data[:300].decode(errors="replace"))
        return json.loads(response.data)

    def raw_text(self, path: str) -> str | None:
        """GET an API path as text (e.g. a service proxy's /metrics); None when it is not found."""
        try:
            response = self._get(path, "text/plain")
        except ApiException as error:
            if error.status in (404, 503):
                return None
            raise
        if not 200 <= response.status < 300:
            return None
        return response.data.decode(errors="replace")

    def service_get(self, service: Any, port: Any, path: str) -> str | None:
        """GET a path of a Service's port, as text: through the API server's service proxy, or, for an
        ExternalName Service, at the name and port it points to (reachable from where validation runs)."""
        if service.spec.type == "ExternalName":
            url = f"http://{service.spec.external_name}:{port.port}{path}"
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    return response.read().decode(errors="replace")
            except (urllib.error.URLError, OSError):
                return None
        proxy = (
            f"/api/v1/namespaces/{service.metadata.namespace}/services/"
            f"{service.metadata.name}:{port.name or port.port}/proxy{path}"
        )
        return self.raw_text(proxy)

    def served_resources(self, group_version: str) -> set[str]:
        prefix = "/api/" if group_version == "v1" else "/apis/"
        listing = self.raw_get(prefix + group_version)
        return {entry["name"] for entry in (listing or {}).get("resources", [])}

    def crd(self, name: str) -> Any | None:
        try:
            return self.apiext.read_custom_resource_definition(name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def nodes(self, selector: str = "") -> list[Any]:
        return self.core.list_node(label_selector=selector).items

    def list_custom(self, group: str, version: str, plural: str, namespace: str | None = None) -> list[dict]:
        try:
            if namespace:
                return self.custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
            return self.custom.list_cluster_custom_object(group, version, plural)["items"]
        except ApiException as error:
            if error.status == 404:
                return []
            raise


def is_simulated(node: Any) -> bool:
    return (node.metadata.annotations or {}).get(SIMULATED_NODE_ANNOTATION) == "fake"


def node_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def condition_of(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return None


def condition_true(obj: dict[str, Any] | None, kind: str) -> bool:
    found = condition_of(obj, kind)
    return bool(found and found.get("status") == "True")


@dataclass
class CheckContext:
    """What a running check uses: the cluster, its options, its evidence and its cleanups."""

    cluster: Cluster
    options: ValidationOptions
    run_id: str
    requirement_id: str
    evidence: list[EvidenceStep] = field(default_factory=list)
    implementation: str = ""
    source: Source = Source.NONE
    subtests: list[Subtest] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def uses_nodes(self, nodes: list[Any]) -> None:
        """Records where the evidence comes from: simulated when any node the check used is simulated."""
        simulated = any(is_simulated(node) for node in nodes)
        if simulated or self.source is not Source.SIMULATED:
            self.source = Source.SIMULATED if simulated else Source.HARDWARE

    def subtest(self, name: str, action: Callable[[], str]) -> Subtest:
        """Runs one part of the check; its Outcome (or 'ok' reason) becomes the subtest's result."""
        started = time.monotonic()
        try:
            result = Subtest(name, Status.PASS, action() or "ok")
        except Outcome as outcome:
            result = Subtest(name, outcome.status, outcome.reason)
        result.seconds = time.monotonic() - started
        self.subtests.append(result)
        self.record(f"subtest {name}: {result.status}", result.reason)
        return result

    def verdict(self, summary: str) -> Outcome:
        """The check's result from its subtests: any FAIL fails it, else any SKIP skips it."""
        failed = [s for s in self.subtests if s.status is Status.FAIL]
        skipped = [s for s in self.subtests if s.status is Status.SKIP]
        if failed:
            return Outcome(Status.FAIL, "; ".join(f"{s.name}: {s.reason}" for s in failed))
        if skipped:
            return Outcome(Status.SKIP, "; ".join(f"{s.name}: {s.reason}" for s in skipped))
        return Outcome(Status.PASS, summary)

    def record(self, action: str, observed: str = "", detail: Any = None) -> None:
        text = (
            detail
            if isinstance(detail, str) or detail is None
            else yaml.safe_dump(_plain(detail), sort_keys=False, width=100)
        )
        self.evidence.append(EvidenceStep(now(), action, observed, text or ""))

    def timeout(self, seconds: float) -> float:
        return seconds * self.options.timeout_scale

    def wait(self, check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
        """Polls until check returns a truthy value; a FAIL naming `what` after the timeout."""
        deadline = time.monotonic() + self.timeout(timeout)
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise Outcome(Status.FAIL, f"timed out after {self.timeout(timeout):.0f}s waiting for {what}")
            time.sleep(interval)

    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, CHECK_LABEL: self.requirement_id.replace("_", "-")}

    @contextlib.contextmanager
    def namespace(self, suffix: str = "") -> Iterator[str]:
        """A namespace of this check, restricted by Pod Security, deleted with its content afterwards."""
        name = f"aiconf-{self.requirement_id.replace('_', '-')}{'-' + suffix if suffix else ''}-{self.run_id}"
        labels = {
            **self.labels(),
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
        self.cluster.core.create_namespace({"metadata": {"name": name, "labels": labels}})
        self.record(f"created namespace {name}", "Pod Security level restricted (enforced)")
        try:
            yield name
        finally:
            delete_namespace(self.cluster, name)

    def on_cleanup(self, action: Callable[[], None]) -> None:
        self.cleanups.append(action)

    def run_cleanups(self) -> None:
        while self.cleanups:
            action = self.cleanups.pop()
            with contextlib.suppress(ApiException):
                action()


def delete_namespace(cluster: Cluster, name: str, wait_seconds: float = 60) -> None:
    try:
        cluster.core.delete_namespace(name, propagation_policy="Background")
    except ApiException as error:
        if error.status != 404:
            raise
        return
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            cluster.core.read_namespace(name)
        except ApiException as error:
            if error.status == 404:
                return
            raise
        time.sleep(0.5)


def delete_run_leftovers(cluster: Cluster, run_id: str) -> list[str]:
    """Deletes every namespace of a run (after an interrupted check); returns their names."""
    names = [
        ns.metadata.name for ns in cluster.core.list_namespace(label_selector=f"{RUN_LABEL}={run_id}").items
    ]
    for name in names:
        delete_namespace(cluster, name, wait_seconds=10)
    return names


def new_run_id() -> str:
    return secrets.token_hex(3)


def _plain(obj: Any) -> Any:
    """An API object as plain data, without the noise a reviewer does not need."""
    if hasattr(obj, "to_dict"):
        obj = client.ApiClient().sanitize_for_serialization(obj)
    if isinstance(obj, dict):
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            obj = {
                **obj,
                "metadata": {
                    k: v
                    for k, v in metadata.items()
                    if k not in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp")
                },
            }
    return obj


def pod_manifest(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    image: str,
    command: list[str] | None = None,
    resources: dict[str, Any] | None = None,
    node_selector: dict[str, str] | None = None,
    tolerate_gpu_taint: bool = True,
    claims: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    extra_containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An unprivileged pod that the restricted Pod Security level admits."""
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
    }
    if command:
        container["command"] = command
    if resources:
        container["resources"] = resources
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": RESTRICTED_POD_SECURITY,
        "automountServiceAccountToken": False,
        "containers": [container, *(extra_containers or [])],
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerate_gpu_taint:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if claims:
        spec["resourceClaims"] = claims
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": spec,
    }


def run_pod(ctx: CheckContext, namespace: str, manifest: dict[str, Any]) -> Any:
    """Creates the pod and waits until it ran (simulated) or finished (hardware)."""
    ctx.cluster.core.create_namespaced_pod(namespace, manifest)
    name = manifest["metadata"]["name"]
    ctx.record(f"created pod {name}", "", manifest)
    return ctx.wait(
        lambda: (
            (p := ctx.cluster.core.read_namespaced_pod(name, namespace)).status.phase
            in ("Running", "Succeeded", "Failed")
            and p
        ),
        90,
        f"pod {name} to run",
    )


def finished_pod(ctx: CheckContext, namespace: str, name: str) -> Any:
    """Waits until the pod's containers ended (real nodes only: simulated pods never end by themselves)."""
    return ctx.wait(
        lambda: (
            (p := ctx.cluster.core.read_namespaced_pod(name, namespace)).status.phase
            in ("Succeeded", "Failed")
            and p
        ),
        120,
        f"pod {name} to finish",
    )
