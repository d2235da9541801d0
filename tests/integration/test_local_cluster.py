"""The small local cluster, built and torn down through the command line as a user would."""

from __future__ import annotations

import os
import re
import signal
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from aicluster.processes import owned_pids
from aicluster.teardown import release_controller_resources
from tests.integration.conftest import (
    CLUSTER_PROCESSES,
    Aicluster,
    CliResult,
    running_processes,
    write_spec,
)

pytestmark = pytest.mark.integration
NAME = "itest-small"
EXPECTED = {
    # pool: (nodes, GPUs per node, product label, how pods reach the GPUs)
    "h100": (2, 8, "NVIDIA-H100-80GB-HBM3", "dra"),
    "l4": (2, 1, "NVIDIA-L4", "device-plugin"),
    "t4": (0, 1, "Tesla-T4", "device-plugin"),
    "cpu": (2, 0, None, None),
}


def core_api(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def test_build_prints_one_line_per_stage_and_the_pool_table(small_cluster: CliResult) -> None:
    for stage in ("binaries", "provision", "inventory", "configure"):
        assert re.search(rf"^  ok\s+{stage}\s+\d+\.\ds", small_cluster.stdout, re.M), stage
    assert re.search(r"^kubeconfig: \S+/itest-small/kubeconfig$", small_cluster.stdout, re.M)
    assert re.search(r"^h100\s+H100-80GB\s+8\s+2/2\s+0\.\.4\s+16$", small_cluster.stdout, re.M)


def test_every_pool_is_ready_with_its_gpus_labels_and_taints(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    kubeconfig = aicluster.work_dir(NAME) / "kubeconfig"
    nodes = core_api(kubeconfig).list_node().items
    spec = yaml.safe_load((aicluster.work_dir(NAME) / "spec.yaml").read_text())
    pools = {pool["name"]: pool for pool in spec["node_pools"]}
    for pool_name, (count, gpus, product, access) in EXPECTED.items():
        members = [n for n in nodes if n.metadata.labels.get("aicluster.io/pool") == pool_name]
        assert len(members) == count, pool_name
        for node in members:
            assert ready(node), node.metadata.name
            labels = node.metadata.labels
            for key, value in pools[pool_name].get("labels", {}).items():
                assert labels[key] == value
            taints = [(t.key, t.value, t.effect) for t in node.spec.taints or []]
            assert taints == [(t["key"], t.get("value", ""), t["effect"])
                              for t in pools[pool_name].get("taints", [])]
            if access == "device-plugin":
                assert node.status.capacity["nvidia.com/gpu"] == str(gpus)
                assert node.status.allocatable["nvidia.com/gpu"] == str(gpus)
            else:
                # DRA pools publish their GPUs as ResourceSlices, not as node capacity.
                assert "nvidia.com/gpu" not in node.status.capacity
            if gpus:
                assert labels["aicluster.io/gpu-access"] == access
                assert labels["nvidia.com/gpu.present"] == "true"
                assert labels["nvidia.com/gpu.product"] == product
                assert labels["nvidia.com/gpu.count"] == str(gpus)
                assert int(labels["nvidia.com/gpu.memory"]) > 0
            else:
                assert "nvidia.com/gpu.present" not in labels


def test_the_scheduler_binds_a_gpu_pod_to_a_gpu_node(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    api = core_api(aicluster.work_dir(NAME) / "kubeconfig")
    namespace = "itest-gpu-pod"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="needs-gpus"),
            spec=client.V1PodSpec(
                containers=[client.V1Container(
                    name="main", image="registry.invalid/cuda:none",
                    resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": "8"}))],
                tolerations=[client.V1Toleration(key="nvidia.com/gpu", operator="Exists",
                                                 effect="NoSchedule")],
            ),
        )
        api.create_namespaced_pod(namespace, pod)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            current = api.read_namespaced_pod("needs-gpus", namespace)
            if current.status.phase == "Running":
                break
            time.sleep(1)
        assert current.status.phase == "Running"
        assert current.spec.node_name.startswith("itest-small-h100-")
    finally:
        api.delete_namespace(namespace)


def test_api_server_requires_tls_client_credentials_and_rbac(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    kubeconfig_path = aicluster.work_dir(NAME) / "kubeconfig"
    assert kubeconfig_path.stat().st_mode & 0o777 == 0o600
    server = yaml.safe_load(kubeconfig_path.read_text())["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://127.0.0.1:")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{server}/api/v1/nodes", context=context, timeout=10)
    assert anonymous.value.code in (401, 403)
    kwok_config = (aicluster.work_dir(NAME) / "kwok" / "clusters" / NAME / "kwok.yaml").read_text()
    assert "--authorization-mode=Node,RBAC" in kwok_config
    assert "--insecure-port" not in kwok_config


def test_rebuild_changes_nothing_and_starts_no_second_process(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    work_dir = aicluster.work_dir(NAME)
    before = owned_pids(work_dir)
    assert running_processes(work_dir) == CLUSTER_PROCESSES
    result = aicluster.run("build", "--spec", str(work_dir / "spec.yaml"), "--skip-validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Terraform: No changes." in result.stdout
    assert "inventory" in result.stdout and ", unchanged:" in result.stdout
    # Nothing differs from the record of the last configure, so no playbook runs.
    configure = re.search(r"^  ok     configure\s+([\d.]+)s  no changes: inputs as at the last configure "
                          r"\([^)]+\), (\d+) processes, \d+ files and (\d+) API objects as it left them, "
                          r"6 nodes Ready$", result.stdout, re.M)
    assert configure is not None, result.stdout
    assert int(configure[2]) == len(before) and int(configure[3]) > 50, result.stdout
    assert "Ansible not run" in result.stdout
    assert owned_pids(work_dir) == before


def test_configure_runs_every_playbook_and_changes_nothing(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    work_dir = aicluster.work_dir(NAME)
    before = owned_pids(work_dir)
    result = aicluster.run("configure", "--spec", str(work_dir / "spec.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Ansible: 5 playbooks, ok=\d+ changed=0 \(no changes\)", result.stdout), result.stdout
    assert owned_pids(work_dir) == before


def test_a_rebuild_repairs_what_changed_since_the_last_configure(
    small_cluster: CliResult, aicluster: Aicluster
) -> None:
    work_dir = aicluster.work_dir(NAME)
    kubeconfig = work_dir / "kubeconfig"
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))

    def team_a_quota() -> int:
        queue = custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", "team-a")
        flavors = queue["spec"]["resourceGroups"][0]["flavors"]
        return next(int(resource["nominalQuota"]) for flavor in flavors if flavor["name"] == "h100"
                    for resource in flavor["resources"] if resource["name"] == "nvidia.com/gpu")

    assert team_a_quota() == 8
    queue = custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", "team-a")
    for flavor in queue["spec"]["resourceGroups"][0]["flavors"]:
        for resource in flavor["resources"]:
            if flavor["name"] == "h100" and resource["name"] == "nvidia.com/gpu":
                resource["nominalQuota"] = 80
    custom.replace_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", "team-a", queue)
    assert team_a_quota() == 80
    kubeconfig.chmod(0o644)
    kueue = next(pid for pid in owned_pids(work_dir) if "kueue" in Path(f"/proc/{pid}/cmdline").read_text())
    os.kill(kueue, signal.SIGKILL)

    result = aicluster.run("build", "--spec", str(work_dir / "spec.yaml"), "--skip-validate")
    assert result.returncode == 0, result.stdout + result.stderr
    reasons = re.search(r"^\s+Ansible runs because of (.*)$", result.stdout, re.M)
    assert reasons is not None, result.stdout
    assert "kueue (gone)" in reasons[1] and "kueue (new)" not in reasons[1], reasons[1]
    assert "kubeconfig (changed)" in reasons[1], reasons[1]
    assert "kueue.x-k8s.io/ClusterQueue//team-a (changed)" in reasons[1], reasons[1]
    assert re.search(r"Ansible: 5 playbooks, ok=\d+ changed=[1-9]", result.stdout), result.stdout
    assert team_a_quota() == 8
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert running_processes(work_dir) == CLUSTER_PROCESSES

    again = aicluster.run("build", "--spec", str(work_dir / "spec.yaml"), "--skip-validate")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Ansible not run" in again.stdout, again.stdout


def test_status_prints_kubeconfig_and_pools(small_cluster: CliResult, aicluster: Aicluster) -> None:
    result = aicluster.run("status", "--spec", str(aicluster.work_dir(NAME) / "spec.yaml"))
    assert result.returncode == 0, result.stderr
    assert f"kubeconfig: {aicluster.work_dir(NAME) / 'kubeconfig'}" in result.stdout
    assert re.search(r"^l4\s+L4\s+1\s+2/2\s+0\.\.4\s+2$", result.stdout, re.M)


def test_a_bad_spec_fails_before_creating_anything(aicluster: Aicluster, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: itest-bad\nnode_pools:\n  - name: gpu\n    gpu: {product: H999, count: 8}"
                    "\n    nodes: {min: 3, max: 1}\n")
    result = aicluster.run("build", "--spec", str(spec))
    assert result.returncode == 2
    assert "node_pools[0].gpu.product: unknown GPU product 'H999'" in result.stderr
    assert "node_pools[0].nodes.min: 3 is greater than max (1)" in result.stderr
    assert not aicluster.work_dir("itest-bad").exists()


def test_status_of_a_cluster_that_is_not_built(aicluster: Aicluster, tmp_path: Path) -> None:
    result = aicluster.run("status", "--spec", str(write_spec(tmp_path, "itest-absent")))
    assert result.returncode == 2
    assert "is the cluster built?" in result.stderr


@pytest.mark.parametrize(
    ("interrupt", "after_output"),
    [(signal.SIGKILL, "  ok     inventory"), (signal.SIGINT, "  ok     provision")],
    ids=["killed-during-configure", "ctrl-c-after-provision"],
)
def test_an_interrupted_build_completes_when_run_again(
    aicluster: Aicluster, tmp_path: Path, interrupt: signal.Signals, after_output: str
) -> None:
    name = f"itest-interrupt-{interrupt.name.lower()}"
    spec = write_spec(tmp_path, name)
    process = aicluster.popen("build", "--spec", str(spec), "--skip-validate")
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(after_output):
            break
    # Let the next stage get under way (kwokctl starting the control plane), then interrupt.
    time.sleep(3)
    os.killpg(process.pid, interrupt)
    process.wait(timeout=60)
    assert process.returncode != 0

    result = aicluster.run("build", "--spec", str(spec), "--skip-validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^h100\s+H100-80GB\s+8\s+2/2", result.stdout, re.M)
    work_dir = aicluster.work_dir(name)
    assert running_processes(work_dir) == CLUSTER_PROCESSES
    assert aicluster.run("destroy", "--spec", str(spec)).returncode == 0
    assert not work_dir.exists()
    assert owned_pids(work_dir) == []


@pytest.mark.destroys_cluster
def test_cloud_teardown_first_releases_what_controllers_created(small_cluster: CliResult,
                                                                 aicluster: Aicluster) -> None:
    """The step a cloud destroy runs before Terraform, against the real API server: every
    LoadBalancer Service, Gateway and Karpenter NodePool goes, and so do Karpenter's machines."""
    kubeconfig = aicluster.work_dir(NAME) / "kubeconfig"
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    core.create_namespaced_service("default", {
        "metadata": {"name": "itest-lb"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "none"}, "ports": [{"port": 80}]}})
    pools = [item["metadata"]["name"] for item in
             custom.list_cluster_custom_object("karpenter.sh", "v1", "nodepools")["items"]]
    assert pools, "the small spec's Karpenter NodePools should exist"

    released = release_controller_resources(kubeconfig, timeout=180)
    assert released.skipped is None
    assert "Service default/itest-lb (LoadBalancer)" in released.deleted
    assert "Gateway gateway-system/inference" in released.deleted
    assert {f"NodePool {name} (Karpenter)" for name in pools} <= set(released.deleted)
    services = core.list_service_for_all_namespaces().items
    assert not [service for service in services if service.spec.type == "LoadBalancer"]
    assert not custom.list_cluster_custom_object("gateway.networking.k8s.io", "v1", "gateways")["items"]
    assert not custom.list_cluster_custom_object("karpenter.sh", "v1", "nodeclaims")["items"]
    again = release_controller_resources(kubeconfig, timeout=30)
    assert again.deleted == []


@pytest.mark.destroys_cluster
def test_destroy_leaves_no_process_and_no_file(small_cluster: CliResult, aicluster: Aicluster) -> None:
    work_dir = aicluster.work_dir(NAME)
    spec = aicluster.state_dir / "itest-small.yaml"
    spec.write_text((work_dir / "spec.yaml").read_text())
    result = aicluster.run("destroy", "--spec", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"stopped {len(CLUSTER_PROCESSES)} processes" in result.stdout
    assert not work_dir.exists()
    assert owned_pids(work_dir) == []
    again = aicluster.run("destroy", "--spec", str(spec))
    assert again.returncode == 0
    assert "nothing to destroy" in again.stdout
