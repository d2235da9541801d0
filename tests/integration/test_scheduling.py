"""Kueue on the local cluster: decisions made by the real Kueue controller and scheduler."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import Aicluster, CliResult
from tests.integration.kube import Kube, condition, condition_true, gpu_job, wait_until

pytestmark = pytest.mark.integration
NAME = "itest-small"
TEAM_A, TEAM_B = "team-a", "team-b"


@pytest.fixture
def kube(small_cluster: CliResult, aicluster: Aicluster) -> Iterator[Kube]:
    api = Kube(aicluster.work_dir(NAME) / "kubeconfig")
    yield api
    for namespace in (TEAM_A, TEAM_B):
        api.delete_jobs(namespace)


def admitted(kube: Kube, namespace: str, job: str) -> bool:
    return condition_true(kube.workload_of(namespace, job), "Admitted")


def test_queues_of_the_spec_exist(kube: Kube) -> None:
    flavors = {item["metadata"]["name"] for item in kube.custom.list_cluster_custom_object(
        "kueue.x-k8s.io", "v1beta2", "resourceflavors")["items"]}
    assert flavors == {"cpu", "h100", "l4", "t4"}
    queues = {item["metadata"]["name"]: item for item in kube.custom.list_cluster_custom_object(
        "kueue.x-k8s.io", "v1beta2", "clusterqueues")["items"]}
    assert set(queues) == {TEAM_A, TEAM_B}
    for name, queue in queues.items():
        assert queue["spec"]["cohortName"] == "gpu"
        # The build waited for this: the Kueue controller has reconciled every queue.
        assert condition_true(queue, "Active"), (name, queue.get("status"))
    priorities = {item["metadata"]["name"]: item["value"] for item in
                  kube.custom.list_cluster_custom_object(
                      "kueue.x-k8s.io", "v1beta2", "workloadpriorityclasses")["items"]}
    assert priorities == {"high": 1000, "standard": 100, "low": 10}


def test_a_gang_that_fits_is_admitted_and_every_pod_is_bound(kube: Kube) -> None:
    kube.batch.create_namespaced_job(TEAM_A, gpu_job("fits", TEAM_A, pods=4, gpus_per_pod=2))
    wait_until(lambda: admitted(kube, TEAM_A, "fits"), 60, "the gang to be admitted")
    job = wait_until(
        lambda: (j := kube.batch.read_namespaced_job("fits", TEAM_A)).status.succeeded == 4 and j,
        90, "all 4 pods to complete")
    assert job.spec.suspend is False
    pods = kube.pods(TEAM_A, "job=fits")
    assert len(pods) == 4
    # Kueue injected the H100 flavor's node selector; the scheduler bound every pod to an H100 node.
    for pod in pods:
        assert pod.spec.node_selector == {"aicluster.io/pool": "h100"}
        assert pod.spec.node_name.startswith(f"{NAME}-h100-")


def test_a_gang_that_cannot_fit_starts_no_pod(kube: Kube) -> None:
    # 3 pods x 8 GPUs = 24 H100 GPUs; the cohort's H100 quota is 16 (8 per tenant).
    kube.batch.create_namespaced_job(TEAM_A, gpu_job("too-big", TEAM_A, pods=3, gpus_per_pod=8))
    workload = wait_until(lambda: kube.workload_of(TEAM_A, "too-big"), 30, "its Workload")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert kube.pods(TEAM_A, "job=too-big") == [], "a pod of an unadmitted gang was created"
        assert kube.batch.read_namespaced_job("too-big", TEAM_A).spec.suspend is True
        time.sleep(1)
    workload = kube.workload_of(TEAM_A, "too-big")
    assert not condition_true(workload, "QuotaReserved")
    assert not condition_true(workload, "Admitted")
    reason = condition(workload, "QuotaReserved")
    assert reason is not None and "couldn't assign flavors" in reason["message"]


def test_a_higher_priority_workload_preempts_a_lower_one(kube: Kube) -> None:
    # Fill the whole H100 quota of the cohort: team-b uses its 8 GPUs, team-a its 8.
    kube.batch.create_namespaced_job(
        TEAM_B, gpu_job("b-steady", TEAM_B, 1, 8, run_for="600s", priority="standard"))
    wait_until(lambda: admitted(kube, TEAM_B, "b-steady"), 60, "team-b's job to be admitted")
    kube.batch.create_namespaced_job(
        TEAM_A, gpu_job("a-low", TEAM_A, 1, 8, run_for="600s", priority="low"))
    wait_until(lambda: admitted(kube, TEAM_A, "a-low"), 60, "the low-priority job to be admitted")
    kube.batch.create_namespaced_job(
        TEAM_A, gpu_job("a-high", TEAM_A, 1, 8, run_for="600s", priority="high"))
    wait_until(lambda: admitted(kube, TEAM_A, "a-high"), 90, "the high-priority job to be admitted")
    low = kube.workload_of(TEAM_A, "a-low")
    high = kube.workload_of(TEAM_A, "a-high")
    evicted = condition(low, "Evicted")
    assert evicted is not None and evicted["status"] == "True" and evicted["reason"] == "Preempted"
    preempted = condition(low, "Preempted")
    assert preempted is not None and preempted["reason"] == "InClusterQueue"
    assert high["metadata"]["uid"] in preempted["message"]
    assert not condition_true(low, "Admitted")
    assert kube.batch.read_namespaced_job("a-low", TEAM_A).spec.suspend is True
    wait_until(lambda: any(p.status.phase == "Running" for p in kube.pods(TEAM_A, "job=a-high")),
               60, "the high-priority pod to run")
    assert admitted(kube, TEAM_B, "b-steady"), "the other tenant's workload must be left alone"


def test_two_tenants_share_gpus_fairly_when_both_queue(kube: Kube) -> None:
    # team-a arrives first and borrows team-b's idle quota: two 8-GPU jobs on 16 GPUs.
    for index in range(2):
        kube.batch.create_namespaced_job(
            TEAM_A, gpu_job(f"a-{index}", TEAM_A, 1, 8, run_for="600s"))
    wait_until(lambda: admitted(kube, TEAM_A, "a-0") and admitted(kube, TEAM_A, "a-1"), 60,
               "team-a to use the whole cohort")
    # team-b then queues: fair sharing reclaims its share from the borrower.
    for index in range(2):
        kube.batch.create_namespaced_job(
            TEAM_B, gpu_job(f"b-{index}", TEAM_B, 1, 8, run_for="600s"))

    def shares() -> tuple[int, int] | None:
        a = sum(admitted(kube, TEAM_A, f"a-{i}") for i in range(2))
        b = sum(admitted(kube, TEAM_B, f"b-{i}") for i in range(2))
        return (a, b) if (a, b) == (1, 1) else None

    assert wait_until(shares, 90, "each tenant to hold one 8-GPU job") == (1, 1)
    reasons = {(condition(kube.workload_of(TEAM_A, f"a-{i}"), "Preempted") or {}).get("reason")
               for i in range(2)}
    # The borrower gave back exactly the share the other tenant was owed.
    assert reasons & {"InCohortFairSharing", "InCohortReclamation"}, reasons
