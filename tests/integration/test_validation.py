"""The validate stage against the local cluster: what it proves, its artifacts, and that breaking the
platform makes the right check fail."""

from __future__ import annotations

import json
import os
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from aicluster.profiles import load_profile
from aicluster.validation.cluster import RUN_LABEL
from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import Kube, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
PROFILE = load_profile("1.37")


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Kube:
    return Kube(aicluster.work_dir(NAME) / "kubeconfig")


def spec_args(aicluster: Aicluster) -> list[str]:
    return ["--spec", str(aicluster.work_dir(NAME) / "spec.yaml")]


def validate(aicluster: Aicluster, tmp_path: Path, *args: str) -> tuple[CliResult, dict[str, Any]]:
    result = aicluster.run("validate", *spec_args(aicluster), "--output", str(tmp_path / "out"), "--json",
                           "--negative-window", "10", *args, timeout=900)
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


def result_of(summary: dict[str, Any], requirement_id: str) -> dict[str, Any]:
    return next(r for r in summary["results"] if r["id"] == requirement_id)


def leftovers(kube: Kube) -> list[str]:
    namespaces = [n.metadata.name for n in kube.core.list_namespace(label_selector=RUN_LABEL).items]
    queues = [q["metadata"]["name"] for q in kube.custom.list_cluster_custom_object(
        "kueue.x-k8s.io", "v1beta2", "clusterqueues")["items"] if q["metadata"]["name"].startswith("aiconf-")]
    return namespaces + queues


def test_build_validated_the_cluster_and_wrote_every_artifact(small_cluster: CliResult, aicluster: Aicluster,
                                                              kube: Kube) -> None:
    assert "aicluster validate: profile 1.37 (15 requirements)" in small_cluster.stdout
    output = aicluster.work_dir(NAME) / "validation"
    summary = json.loads((output / "summary.json").read_text())
    results = {r["id"]: r for r in summary["results"]}
    assert set(results) == {r.id for r in PROFILE.requirements}
    # What the simulated cluster can prove, it proves.
    for requirement_id in ("gang_scheduling", "cluster_autoscaling", "robust_controller", "pod_autoscaling",
                           "ai_inference", "ai_service_metrics"):
        assert results[requirement_id]["status"] == "PASS", results[requirement_id]
        assert results[requirement_id]["source"] == "simulated"
    # The workload is found the way upstream's test finds it: through a ServiceMonitor.
    service_metrics = results["ai_service_metrics"]
    assert "through a ServiceMonitor" in service_metrics["reason"], service_metrics
    # What needs real GPUs is said so, never passed.
    secure = results["secure_accelerator_access"]
    assert secure["status"] == "SKIP" and "real GPU" in secure["reason"], secure
    metrics = results["accelerator_metrics"]
    assert metrics["status"] == "SKIP" and "simulated devices" in metrics["reason"], metrics
    assert "DCGM_FI_DEV_GPU_UTIL" in metrics["reason"]
    assert all(s["status"] == "PASS" for s in secure["subtests"])
    for result in results.values():
        assert result["status"] != "PASS" or result["source"] != "none"
        assert (output / "evidence" / f"{result['id']}.md").is_file()
    routing = {s["name"]: s["reason"] for s in results["ai_inference"]["subtests"]}
    assert "20/20 header requests to model-v2" in routing["DataPlaneFollowsTheRoute"], routing
    operator = {s["name"]: s["status"] for s in results["robust_controller"]["subtests"]}
    assert operator["KubeflowTrainer/WebhookRejectsInvalidCR"] == "PASS"
    assert operator["KubeflowTrainer/ControllerReconcilesCR"] == "PASS"
    assert operator["JobSet/ControllerReconcilesCR"] == "PASS"
    gang = (output / "evidence" / "gang_scheduling.md").read_text()
    assert "NegativeGangNotPartiallyScheduled" in gang and "no pod bound or running" in gang

    cases = {case.get("name"): case for case in ET.parse(output / "junit.xml").iter("testcase")}
    assert cases["TestGangScheduling"].find("failure") is None
    assert cases["TestSecureAcceleratorAccess"].find("skipped") is not None
    assert "--- PASS: TestGangScheduling" in (output / "e2e.log").read_text()
    events = [json.loads(line) for line in (output / "results.json").read_text().splitlines()]
    finals = {e["Test"]: e["Action"] for e in events if e["Action"] in ("pass", "fail", "skip")}
    assert finals["TestAcceleratorClusterAutoscaling"] == "pass"
    assert finals["TestSecureAcceleratorAccess"] == "skip"
    report = (output / "report.md").read_text()
    first_row = next(line for line in report.splitlines() if line.startswith("| [`"))
    assert "**FAIL**" in first_row, "failures come first"
    assert (output / "report.html").read_text().startswith("<!DOCTYPE html>")

    product = yaml.safe_load((output / "PRODUCT.yaml").read_text())
    entries = {item["id"]: item for items in product["spec"].values() for item in items}
    assert entries["gang_scheduling"]["status"] == "Implemented"
    assert entries["gang_scheduling"]["evidence"][0] == (
        "file://v1.37/aicluster/evidence/gang_scheduling/junit.xml#TestGangScheduling")
    assert entries["secure_accelerator_access"]["status"] == ""
    for item in entries.values():
        assert not (item["level"] == "MUST" and item["status"] == "Implemented"
                    and results[item["id"]]["status"] != "PASS")
    assert leftovers(kube) == []


def test_validate_exit_codes_and_json(aicluster: Aicluster, kube: Kube, tmp_path: Path) -> None:
    result, summary = validate(aicluster, tmp_path, "--only", "gang_scheduling")
    assert result.returncode == 0, result.stderr
    assert summary["exit_code"] == 0 and summary["counts"]["PASS"] == 1
    assert "PASS  gang_scheduling" in result.stderr

    # A failed SHOULD is reported, but only a failed MUST fails the run (see the break test for exit 1).
    result, summary = validate(aicluster, tmp_path, "--only", "high_performance_networking")
    assert result.returncode == 0, result.stderr
    assert result_of(summary, "high_performance_networking")["status"] == "FAIL"

    # The gvisor RuntimeClass is installed, but simulated nodes run no sandbox: not verifiable here.
    result, summary = validate(aicluster, tmp_path, "--only", "workload_sandboxing")
    sandboxing = result_of(summary, "workload_sandboxing")
    assert result.returncode == 0, result.stderr
    assert sandboxing["status"] == "SKIP", sandboxing
    assert "not verifiable in simulation" in sandboxing["reason"] and "gvisor" in sandboxing["reason"]

    missing = aicluster.run("validate", "--kubeconfig", str(tmp_path / "none"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    config = yaml.safe_load((aicluster.work_dir(NAME) / "kubeconfig").read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    unreachable = tmp_path / "unreachable"
    unreachable.write_text(yaml.safe_dump(config))
    unreachable.chmod(0o600)
    down = aicluster.run("validate", "--kubeconfig", str(unreachable), "--output", str(tmp_path / "down"))
    assert down.returncode == 2 and "cannot reach the API server" in down.stderr, down.stderr
    assert not (tmp_path / "down").exists(), "nothing is written when validation cannot run"

    unknown = aicluster.run("validate", *spec_args(aicluster), "--only", "no_such_check")
    assert unknown.returncode == 2 and "no_such_check" in unknown.stderr


def test_breaking_the_platform_fails_the_right_check(
    aicluster: Aicluster, kube: Kube, tmp_path: Path
) -> None:
    work_dir = aicluster.work_dir(NAME)
    try:
        # The Kueue controller (and with it its webhooks) stops: gangs cannot be admitted.
        kueue_pid = int((work_dir / "kueue" / "pids" / "kueue.pid").read_text())
        os.kill(kueue_pid, signal.SIGTERM)
        # No DeviceClass selects the DRA driver's GPUs any more.
        kube.custom.delete_cluster_custom_object("resource.k8s.io", "v1", "deviceclasses", "gpu.nvidia.com")
        # The AI operator's validating webhook is gone.
        admission = client.AdmissionregistrationV1Api(kube.api_client)
        admission.delete_validating_webhook_configuration("kubeflow-trainer-validator.trainer.kubeflow.org")
        # Every accelerator NodePool reaches its limit.
        pools = kube.custom.list_cluster_custom_object("karpenter.sh", "v1", "nodepools")["items"]
        for name in (pool["metadata"]["name"] for pool in pools):
            kube.custom.patch_cluster_custom_object("karpenter.sh", "v1", "nodepools", name,
                                                    {"spec": {"limits": {"cpu": "0"}}})
        result, summary = validate(aicluster, tmp_path, "--only", "gang_scheduling,secure_accelerator_access,"
                                   "cluster_autoscaling,robust_controller")
        assert result.returncode == 1, result.stderr
        gang = result_of(summary, "gang_scheduling")
        assert gang["status"] == "FAIL" and "webhook" in gang["reason"], gang
        secure = result_of(summary, "secure_accelerator_access")
        assert secure["status"] == "FAIL" and "no DeviceClass selects them" in secure["reason"], secure
        scaling = result_of(summary, "cluster_autoscaling")
        assert scaling["status"] == "FAIL" and "at its limit" in scaling["reason"], scaling
        operator = result_of(summary, "robust_controller")
        assert operator["status"] == "FAIL", operator
        assert "no ValidatingWebhookConfiguration covers trainer" in operator["reason"], operator
        assert leftovers(kube) == []
    finally:
        # Configure puts every piece back: the controller, the DeviceClass and the NodePools' limits.
        repaired = aicluster.run("configure", *spec_args(aicluster))
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    result, summary = validate(aicluster, tmp_path, "--only",
                               "gang_scheduling,cluster_autoscaling,robust_controller")
    assert result.returncode == 0, result.stderr


def test_an_interrupted_validation_leaves_nothing_behind(
    aicluster: Aicluster, kube: Kube, tmp_path: Path
) -> None:
    process = aicluster.popen("validate", *spec_args(aicluster), "--only", "gang_scheduling",
                              "--output", str(tmp_path / "out"))
    wait_until(lambda: kube.core.list_namespace(label_selector=RUN_LABEL).items, 60,
               "the check's namespace to appear")
    time.sleep(3)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert leftovers(kube) == [], output
