"""Observability on the local cluster: the simulated DCGM exporter follows which pods hold GPUs, the real
Prometheus scrapes it and Kueue, discovers workloads through ServiceMonitors and PodMonitors (turned
into scrape configs by the real prometheus-operator), and every dashboard panel's query returns data."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicluster.paths import REPO_ROOT
from aicluster.validation import stand_ins
from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import RESTRICTED_CONTAINER_SECURITY, WORKLOAD_IMAGE, Kube, gpu_job, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
TEAM = "team-a"
DASHBOARDS = sorted((REPO_ROOT / "roles" / "grafana_dashboards" / "files").glob("*.json"))


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    api = Kube(aicluster.work_dir(NAME) / "kubeconfig")
    yield api
    api.delete_jobs(TEAM)


@pytest.fixture
def prometheus(aicluster: Aicluster) -> str:
    ports = json.loads((aicluster.work_dir(NAME) / "ports.json").read_text())
    return f"http://127.0.0.1:{ports['prometheus']}"


def query(prometheus: str, expression: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_every_gpu_node_and_kueue(kube: Kube, prometheus: str) -> None:
    with urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=10) as response:
        targets = json.loads(response.read())["data"]["activeTargets"]
    health = {(t["labels"]["job"], t["labels"].get("node", "")): t["health"] for t in targets}
    nodes = kube.core.list_node(label_selector="nvidia.com/gpu.present=true").items
    gpu_nodes = {n.metadata.name for n in nodes}
    assert {node for job, node in health if job == "dcgm-exporter"} == gpu_nodes
    wait_until(lambda: all(state == "up" for state in _health(prometheus).values()), 60,
               f"every scrape target to be up: {health}")


def _health(prometheus: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=10) as response:
        return {t["scrapeUrl"]: t["health"] for t in json.loads(response.read())["data"]["activeTargets"]}


def test_gpu_series_follow_the_pods_that_hold_gpus(kube: Kube, prometheus: str) -> None:
    job = gpu_job("metered", TEAM, pods=2, gpus_per_pod=8, run_for="600s")
    job["spec"]["template"]["metadata"]["annotations"]["aicluster.io/simulated-gpu-utilization"] = "75"
    kube.batch.create_namespaced_job(TEAM, job)
    def running() -> list[Any]:
        return [p for p in kube.pods(TEAM, "job=metered") if p.status.phase == "Running"]

    pods = wait_until(lambda: len(p := running()) == 2 and p, 90, "both pods of the job to run")
    names = {p.metadata.name for p in pods}
    held = wait_until(lambda: (r := query(prometheus, f'DCGM_FI_DEV_GPU_UTIL{{namespace="{TEAM}"}}'))
                      and len(r) == 16 and r, 60, "16 GPUs of the job's pods in Prometheus")
    assert {series["metric"]["pod"] for series in held} == names
    assert {series["value"][1] for series in held} == {"75"}
    assert {series["metric"]["Hostname"] for series in held} == {p.spec.node_name for p in pods}
    kube.delete_jobs(TEAM)
    wait_until(lambda: not query(prometheus, f'DCGM_FI_DEV_GPU_UTIL{{namespace="{TEAM}"}}'), 60,
               "the released GPUs to lose their pod labels")


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[path.stem for path in DASHBOARDS])
def test_every_dashboard_panel_returns_data(kube: Kube, prometheus: str, dashboard: Path) -> None:
    # Load to show on the panels: a GPU job admitted by Kueue, holding GPUs for a while.
    load = gpu_job("dashboards", TEAM, pods=1, gpus_per_pod=8, run_for="600s")
    kube.batch.create_namespaced_job(TEAM, load)
    wait_until(lambda: [p for p in kube.pods(TEAM, "job=dashboards") if p.status.phase == "Running"], 90,
               "the job's pod to run")
    expressions = [target["expr"] for panel in json.loads(dashboard.read_text())["panels"]
                   for target in panel["targets"]]
    assert expressions
    empty: list[str] = []

    def all_have_data() -> bool:
        empty[:] = [expression for expression in expressions if not query(prometheus, expression)]
        return not empty

    wait_until(all_have_data, 120, f"data for every panel of {dashboard.name} (still empty: {empty})")


def test_every_rule_is_loaded_healthy_and_reads_served_series(kube: Kube, prometheus: str) -> None:
    """Prometheus evaluates every alert and recording rule of roles/prometheus/files/rules.yml without
    error, and every series those rules read exists (a renamed field would leave an alert silent)."""
    rules_file = yaml.safe_load((REPO_ROOT / "roles" / "prometheus" / "files" / "rules.yml").read_text())
    expected = {rule.get("alert") or rule.get("record") for group in rules_file["groups"]
                for rule in group["rules"]}
    # A workload admitted by Kueue, so that its admission histograms exist.
    kube.batch.create_namespaced_job(TEAM, gpu_job("rules", TEAM, pods=1, gpus_per_pod=1, run_for="600s"))
    wait_until(lambda: [p for p in kube.pods(TEAM, "job=rules") if p.status.phase == "Running"], 90,
               "the job's pod to run")

    def loaded() -> dict[str, dict[str, Any]]:
        with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
            groups = json.loads(response.read())["data"]["groups"]
        found = {rule["name"]: rule for group in groups for rule in group["rules"]}
        # A rule not evaluated yet reports the zero time.
        evaluated = all(not found.get(name, {}).get("lastEvaluation", "0001").startswith("0001")
                        for name in expected)
        return found if evaluated else {}

    rules = wait_until(loaded, 90, f"Prometheus to evaluate every rule of rules.yml: {sorted(expected)}")
    unhealthy = {name: rules[name].get("lastError") for name in expected if rules[name]["health"] != "ok"}
    assert not unhealthy, unhealthy
    series = {name for rule in rules.values() if rule["name"] in expected
              for name in re.findall(r"\b(DCGM_FI_[A-Z0-9_]+|kueue_[a-z_]+)\b", rule["query"])}
    assert series
    missing: list[str] = []

    def all_served() -> bool:
        missing[:] = [name for name in sorted(series) if not query(prometheus, f"count({name})")]
        return not missing

    wait_until(all_served, 90, f"every series the rules read (missing: {missing})")


MONITORS_NAMESPACE = "monitored-workloads"
MONITORING = ("monitoring.coreos.com", "v1")


def active_targets(prometheus: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{prometheus}/api/v1/targets?state=active", timeout=10) as response:
        return json.loads(response.read())["data"]["activeTargets"]


def test_a_service_monitor_makes_prometheus_scrape_the_service(kube: Kube, prometheus: str) -> None:
    """The real prometheus-operator turns a ServiceMonitor into a scrape config of the local Prometheus,
    which then discovers the Service's endpoints and scrapes them: nothing else names the workload."""
    address = stand_ins.host_address()
    assert address, "this host needs an address on its default route for the stand-in server"
    body = "# TYPE monitored_requests_total counter\nmonitored_requests_total 42\n"
    handler = stand_ins.text_handler(lambda _path: (200, "text/plain; version=0.0.4", body))
    with kube.scratch_namespace(MONITORS_NAMESPACE) as namespace, stand_ins.serving(handler, address) as port:
        kube.core.create_namespaced_service(namespace, {
            "metadata": {"name": "model-server", "labels": {"app": "model-server"}},
            "spec": {"ports": [{"name": "metrics", "port": 8000}]}})
        kube.custom.create_namespaced_custom_object("discovery.k8s.io", "v1", namespace, "endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "model-server-1", "labels": {"kubernetes.io/service-name": "model-server"}},
            "addressType": "IPv4",
            "ports": [{"name": "metrics", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]})
        kube.custom.create_namespaced_custom_object(*MONITORING, namespace, "servicemonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "model-server"},
            "spec": {"selector": {"matchLabels": {"app": "model-server"}},
                     "endpoints": [{"port": "metrics", "interval": "5s"}]}})
        job = f"serviceMonitor/{namespace}/model-server/0"
        series = wait_until(
            lambda: query(prometheus, f'monitored_requests_total{{namespace="{namespace}"}}'), 120,
            f"Prometheus to scrape the Service through {job}")
        labels = series[0]["metric"]
        assert (labels["service"], labels["endpoint"]) == ("model-server", "metrics")
        assert series[0]["value"][1] == "42"
        assert labels["instance"] == f"{address}:{port}"
        targets = [t for t in active_targets(prometheus) if t["scrapePool"] == job]
        assert [t["health"] for t in targets] == ["up"], targets
    # Deleting the ServiceMonitor (with its namespace) removes the scrape config again.
    wait_until(lambda: not [t for t in active_targets(prometheus) if t["scrapePool"] == job], 120,
               f"{job} to leave Prometheus's targets")


def test_a_pod_monitor_makes_prometheus_discover_the_pods(kube: Kube, prometheus: str) -> None:
    """A PodMonitor's pods become Prometheus targets at their pod IP and named port. Simulated pods run
    no server, so the scrape itself is not asserted: only the discovery, which is the cluster's own."""
    with kube.scratch_namespace(MONITORS_NAMESPACE) as namespace:
        kube.core.create_namespaced_pod(namespace, {
            "metadata": {"name": "trainer-0", "labels": {"app": "trainer"}},
            "spec": {"automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "trainer", "image": WORKLOAD_IMAGE,
                                     "securityContext": RESTRICTED_CONTAINER_SECURITY,
                                     "ports": [{"name": "metrics", "containerPort": 9102}]}]}})
        kube.custom.create_namespaced_custom_object(*MONITORING, namespace, "podmonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "trainer"},
            "spec": {"selector": {"matchLabels": {"app": "trainer"}},
                     "podMetricsEndpoints": [{"port": "metrics", "interval": "5s"}]}})
        pod = wait_until(lambda: next((p for p in kube.pods(namespace, "app=trainer") if p.status.pod_ip),
                                      None), 90, "the pod to be scheduled and get an IP")
        job = f"podMonitor/{namespace}/trainer/0"
        targets = wait_until(lambda: [t for t in active_targets(prometheus) if t["scrapePool"] == job], 120,
                             f"Prometheus to discover the pod through {job}")
        found = [tuple(t["labels"][key] for key in ("namespace", "pod", "container", "instance"))
                 for t in targets]
        assert found == [(namespace, "trainer-0", "trainer", f"{pod.status.pod_ip}:9102")]
