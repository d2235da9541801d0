"""The real-cluster path of every platform role, for each example cloud and on-prem spec, sent to the
local cluster's API server as a server-side dry run (objects of kinds it does not serve, or of
namespaces it does not have, validated offline against their CRDs or the Kubernetes schemas).

The platform playbooks run as `invoke configure` runs them on a real cluster: the inventory built
from the module's sample outputs, the spec as extra variables, no local binaries or ports, and
aicluster_target the cloud's; only the kubeconfig points at the local cluster and
aicluster_platform_dry_run is set. Nothing on the local cluster may change and no process starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from aicluster.ansible import ansible_environment
from aicluster.bom import load_bom
from aicluster.inventory import SshClient, build_inventory
from aicluster.paths import INVENTORIES_DIR, REPO_ROOT
from aicluster.spec import load_spec
from tests.integration.conftest import Aicluster, CliResult

GOLDEN = REPO_ROOT / "tests" / "data" / "golden"
PLAYBOOKS = [REPO_ROOT / "playbooks" / f"platform-{part}.yml"
             for part in ("scheduling", "operator", "observability", "gateway")]
TARGETS = ["aws", "gcp", "azure", "onprem"]
BOM = load_bom().raw
PRUNED_KINDS = [("kueue.x-k8s.io", "v1beta2", "clusterqueues"), ("kueue.x-k8s.io", "v1beta2", "localqueues"),
                ("kueue.x-k8s.io", "v1beta2", "resourceflavors"),
                ("kueue.x-k8s.io", "v1beta2", "workloadpriorityclasses"),
                ("resource.k8s.io", "v1", "deviceclasses"), ("karpenter.sh", "v1", "nodepools")]


def inventory(target: str, work_dir: Path) -> dict[str, Any]:
    """The inventory the inventory stage writes for the example spec."""
    if target == "onprem":
        # The on-prem module's outputs for the example spec (tests/unit/test_remote_targets.py).
        return yaml.safe_load((GOLDEN / "onprem.inventory.yml").read_text())
    outputs = json.loads((GOLDEN / f"{target}.outputs.json").read_text())
    return build_inventory(outputs, work_dir, sys.executable, SshClient())


def start_platform(target: str, kubeconfig: Path, tmp: Path, allow_unpinned: bool = True,
                   playbooks: list[Path] = PLAYBOOKS) -> subprocess.Popen[bytes]:
    """Starts the platform playbooks of target as ansible-playbook does on a real cluster, as a dry run;
    its JSON report goes to tmp/report.json and its errors to tmp/stderr.log."""
    tmp.mkdir(parents=True, exist_ok=True)
    inventory_path = tmp / "hosts.yml"
    inventory_path.write_text(yaml.safe_dump(inventory(target, tmp)))
    extra_vars = {
        "aicluster_spec": load_spec(INVENTORIES_DIR / f"{target}.yaml").model_dump(mode="json"),
        "aicluster_binaries": {}, "aicluster_sources": {}, "aicluster_local_ports": {},
        "aicluster_kubeconfig": str(kubeconfig), "aicluster_work_dir": str(tmp),
        "aicluster_platform_dry_run": True, "aicluster_allow_unpinned_images": allow_unpinned,
    }
    vars_path = tmp / "extra-vars.yml"
    vars_path.write_text(yaml.safe_dump(extra_vars))
    playbook = tmp / "platform.yml"
    playbook.write_text(yaml.safe_dump([{"ansible.builtin.import_playbook": str(path)}
                                        for path in playbooks]))
    env = {**ansible_environment(tmp / "ansible"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    # Files, not pipes: a run that is not being read must never block on a full pipe.
    with (tmp / "report.json").open("wb") as stdout, (tmp / "stderr.log").open("wb") as stderr:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path),
             "-e", f"@{vars_path}", str(playbook)],
            cwd=REPO_ROOT, env=env, stdout=stdout, stderr=stderr)


def finish_platform(process: subprocess.Popen[bytes], tmp: Path) -> tuple[int, dict[str, Any], str]:
    """Waits for a started run: its exit code, JSON report and the tail of its output."""
    returncode = process.wait(timeout=1800)
    stdout, stderr = (tmp / "report.json").read_text(), (tmp / "stderr.log").read_text()
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        report = {}
    return returncode, report, stdout[-4000:] + stderr[-2000:]


def run_platform(target: str, kubeconfig: Path, tmp: Path, allow_unpinned: bool = True,
                 playbooks: list[Path] = PLAYBOOKS) -> tuple[int, dict[str, Any], str]:
    return finish_platform(start_platform(target, kubeconfig, tmp, allow_unpinned, playbooks), tmp)


def results(report: dict[str, Any], action: str) -> list[dict[str, Any]]:
    found = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for result in task.get("hosts", {}).values():
                if result.get("action") == action and not result.get("skipped"):
                    found.append(result)
    return found


def failures(report: dict[str, Any]) -> list[str]:
    return [f"{task['task']['name']}: {result.get('msg')}"
            for play in report.get("plays", []) for task in play.get("tasks", [])
            for result in task.get("hosts", {}).values() if result.get("failed")]


def snapshot(kubeconfig: Path) -> dict[tuple[str, str, str], str]:
    """resourceVersion of every object of the kinds the platform roles apply (leases, events and
    status-only churn left out), to prove that a dry run stored nothing."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    extensions, node = client.ApiextensionsV1Api(api), client.NodeV1Api(api)
    policy = client.PolicyV1Api(api)
    listings = {
        "Namespace": core.list_namespace(), "ConfigMap": core.list_config_map_for_all_namespaces(),
        "Service": core.list_service_for_all_namespaces(),
        "ServiceAccount": core.list_service_account_for_all_namespaces(),
        "Deployment": apps.list_deployment_for_all_namespaces(),
        "DaemonSet": apps.list_daemon_set_for_all_namespaces(),
        "ClusterRole": rbac.list_cluster_role(), "ClusterRoleBinding": rbac.list_cluster_role_binding(),
        "Role": rbac.list_role_for_all_namespaces(),
        "CustomResourceDefinition": extensions.list_custom_resource_definition(),
        "RuntimeClass": node.list_runtime_class(),
        "PodDisruptionBudget": policy.list_pod_disruption_budget_for_all_namespaces(),
    }
    found = {(kind, item.metadata.namespace or "", item.metadata.name): item.metadata.resource_version
             for kind, listing in listings.items() for item in listing.items}
    # The kinds the roles prune, whose controllers keep writing their status: a dry run must neither
    # delete one nor change its spec (generation).
    custom = client.CustomObjectsApi(api)
    for group, version, plural in PRUNED_KINDS:
        for item in custom.list_cluster_custom_object(group, version, plural)["items"]:
            metadata = item["metadata"]
            found[(plural, metadata.get("namespace", ""), metadata["name"])] = (
                f"generation {metadata.get('generation')}, deleting: {'deletionTimestamp' in metadata}")
    return found


def rendered(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [obj for result in results(report, "aicluster.platform.release_render")
            for obj in [*result.get("definitions", []), *result.get("offline", [])]]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    return next((o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name), None)


def args_of(deployment: dict[str, Any]) -> list[str]:
    return deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])


@pytest.fixture(scope="module")
def local_kubeconfig(small_cluster: CliResult, aicluster: Aicluster) -> Path:
    return aicluster.work_dir("itest-small") / "kubeconfig"


@pytest.mark.parametrize("target", TARGETS)
def test_real_path_dry_runs_against_the_api_server_twice_without_changes(
        target: str, local_kubeconfig: Path, tmp_path: Path) -> None:
    before = snapshot(local_kubeconfig)
    # Dry runs change nothing, so the two runs may overlap: each is one ansible-playbook process that
    # mostly waits on one core, and this host has two.
    runs = [(start_platform(target, local_kubeconfig, tmp_path / name), tmp_path / name)
            for name in ("first", "second")]
    (first_rc, first, first_tail), (second_rc, second, second_tail) = [
        finish_platform(process, tmp) for process, tmp in runs]
    assert first_rc == 0, "\n".join(failures(first)) or first_tail
    assert second_rc == 0, "\n".join(failures(second)) or second_tail
    assert snapshot(local_kubeconfig) == before, "a dry run changed the local cluster"
    for report in (first, second):
        assert sum(stats["changed"] for stats in report["stats"].values()) == 0
        assert sum(stats["failures"] for stats in report["stats"].values()) == 0
    # Both runs sent the same objects and the API server gave the same answers.
    def answers(report: dict[str, Any]) -> list[list[tuple[str, str, str, str]]]:
        return [sorted((o["kind"], o.get("namespace", ""), o["name"], o["result"]) for o in r["objects"])
                for r in results(report, "aicluster.platform.kube_apply")]

    applied = answers(first)
    assert applied == answers(second)
    sent = {(kind, name) for result in applied for kind, _, name, _ in result}

    objects = rendered(first)
    # Every release of the roles rendered, and every rendered object was sent or validated offline.
    for kind, name in [("Deployment", "kueue-controller-manager"),
                       ("Deployment", "jobset-controller"),
                       ("Deployment", "prometheus-adapter"), ("Deployment", "traefik"),
                       ("APIService", "v1beta1.custom.metrics.k8s.io"), ("GatewayClass", "traefik"),
                       ("Gateway", "inference"), ("InferencePool", "example-model-server"),
                       ("RuntimeClass", "gvisor"), ("RuntimeClass", "nvidia"),
                       ("DaemonSet", "dcgm-exporter"), ("Prometheus", "aicluster")]:
        assert find(objects, kind, name) is not None, (kind, name)
    served = [o for r in results(first, "aicluster.platform.release_render") for o in r["definitions"]]
    assert {(o["kind"], o["metadata"]["name"]) for o in served} <= sent
    assert find(objects, "RuntimeClass", "gvisor")["handler"] == "runsc"

    # The adapter: aicluster's rules (the local delivery's file), the real stack's Prometheus, and
    # only the custom metrics API.
    rules = (REPO_ROOT / "roles/prometheus_adapter/files/rules.yml").read_text()
    assert find(objects, "ConfigMap", "adapter-config")["data"]["config.yaml"].strip() == rules.strip()
    adapter = find(objects, "Deployment", "prometheus-adapter")
    assert "--prometheus-url=http://prometheus.monitoring.svc:9090/" in args_of(adapter)
    assert find(objects, "APIService", "v1beta1.metrics.k8s.io") is None
    assert find(objects, "Service", "prometheus")["metadata"]["namespace"] == "monitoring"

    # Traefik runs the pinned image by digest, as the Gateway API controller and data plane.
    traefik = BOM["images"]["traefik"]
    container = find(objects, "Deployment", "traefik")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{traefik['repository']}@{traefik['digest']}"
    gateway_class = find(objects, "GatewayClass", "traefik")
    assert gateway_class["spec"]["controllerName"] == "traefik.io/gateway-controller"
    service = find(objects, "Service", "traefik")
    assert service["spec"]["type"] == ("NodePort" if target == "onprem" else "LoadBalancer")

    # The node autoscaler: the cluster autoscaler on clouds, configured from the inventory; none on-prem.
    autoscaler = find(objects, "Deployment", "cluster-autoscaler")
    if target == "onprem":
        assert autoscaler is None
    else:
        args = args_of(autoscaler)
        provider = {"aws": "aws", "gcp": "gce", "azure": "azure"}[target]
        assert f"--cloud-provider={provider}" in args
        assert "--scale-down-unneeded-time=10m" in args and "--balance-similar-node-groups=true" in args
        assert any(arg.startswith("--scale-down-gpu-utilization-threshold=") for arg in args)
        discovery = [a for a in args if a.startswith(("--nodes=", "--node-group-auto-discovery="))]
        assert discovery, args
        assert find(objects, "PodDisruptionBudget", "cluster-autoscaler") is not None
    # The device plugin: one DaemonSet per device-plugin pool, on that pool's nodes only, with the pool's
    # time-slicing replicas; none for DRA pools, so no GPU is advertised twice.
    spec = load_spec(INVENTORIES_DIR / f"{target}.yaml")
    for pool in spec.node_pools:
        plugin = find(objects, "DaemonSet", f"nvidia-device-plugin-{pool.name}")
        if pool.gpu is None or pool.gpu.access != "device-plugin":
            assert plugin is None, pool.name
            continue
        terms = plugin["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [
            {"key": "aicluster.io/pool", "operator": "In", "values": [pool.name]},
            {"key": "aicluster.io/gpu-access", "operator": "In", "values": ["device-plugin"]}]}]
        config = yaml.safe_load(find(objects, "ConfigMap", f"nvidia-device-plugin-{pool.name}-configs")
                                ["data"][pool.name])
        sharing = config.get("sharing", {}).get("timeSlicing", {}).get("resources", [{}])[0]
        assert sharing.get("replicas", 1) == pool.gpu.time_slicing_replicas
    # Node and cluster metrics: node-exporter on every node, kube-state-metrics, and ServiceMonitors for
    # them and for the kubelets' node, cAdvisor and probe metrics.
    for kind, name in [("DaemonSet", "node-exporter"), ("Deployment", "kube-state-metrics"),
                       ("ServiceMonitor", "node-exporter"), ("ServiceMonitor", "kube-state-metrics"),
                       ("ServiceMonitor", "kubelet")]:
        assert find(objects, kind, name) is not None, (kind, name)
    assert find(objects, "Deployment", "kube-state-metrics")["metadata"]["namespace"] == "monitoring"
    kubelet_paths = [e["path"] for e in find(objects, "ServiceMonitor", "kubelet")["spec"]["endpoints"]]
    assert kubelet_paths == ["/metrics", "/metrics/cadvisor", "/metrics/probes"]
    # The DCGM exporter collects the fields of counters.csv (those the simulated exporter serves).
    exporter = find(objects, "DaemonSet", "dcgm-exporter")
    assert args_of(exporter) == ["-f", "/etc/dcgm-exporter/aicluster/counters.csv"]
    counters = find(objects, "ConfigMap", "dcgm-exporter-counters")["data"]["counters.csv"]
    assert "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL, counter" in counters
    # The dashboards, as sidecar ConfigMaps in monitoring.
    assert {("ConfigMap", "aicluster-dashboard-gpus"), ("ConfigMap", "aicluster-dashboard-tenants")} <= sent


def test_an_unpinned_image_is_refused_without_the_opt_in(local_kubeconfig: Path, tmp_path: Path) -> None:
    before = snapshot(local_kubeconfig)
    returncode, report, tail = run_platform("aws", local_kubeconfig, tmp_path, allow_unpinned=False,
                                            playbooks=[PLAYBOOKS[0]])
    assert returncode != 0, tail
    messages = "\n".join(failures(report))
    # The scheduling play's first image without a digest: the cluster autoscaler's (the DRA driver's,
    # the device plugin's and Kueue's are pinned, and were let through).
    autoscaler = BOM["images"]["cluster-autoscaler"]
    assert autoscaler["digest"] is None, "the test needs an image without a digest"
    assert "images without a digest" in messages, messages
    assert f"{autoscaler['repository']}:{autoscaler['tag']}" in messages, messages
    for pinned in ("dra-driver-nvidia-gpu", "nvidia-device-plugin", "kueue"):
        assert f"release {pinned}: images without a digest" not in messages, messages
    assert "aicluster_allow_unpinned_images" in messages
    assert snapshot(local_kubeconfig) == before
