"""Observability on the local cluster: the simulated DCGM exporter follows which pods hold GPUs, the real
Prometheus scrapes it and Kueue, and every dashboard panel's query returns data."""

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
from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import Kube, gpu_job, wait_until

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
