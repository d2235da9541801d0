"""The kubeadm configuration the roles render for an on-prem cluster (the example spec cut down to
one control-plane host and two workers, through the real on-prem module and the inventory stage)
passes `kubeadm config validate` of the pinned kubeadm; a broken one is rejected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aicluster.binaries import ensure_binaries, module_source_dir
from aicluster.bom import load_bom
from aicluster.inventory import SshClient, build_inventory, write_inventory
from aicluster.paths import INVENTORIES_DIR, REPO_ROOT, TERRAFORM_DIR
from aicluster.spec import parse_spec
from aicluster.targets import terraform_variables
from aicluster.terraform import TerraformRunner

pytestmark = pytest.mark.integration

# Plausible join credentials: kubeadm checks their format, never their value, when validating.
FAKE_TOKEN = "abcdef.0123456789abcdef"
FAKE_CA_HASH = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def kubeadm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("binaries") / "binaries.log"
    return ensure_binaries(["kubeadm"], lambda _message: None, log)["kubeadm"]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inventory the pipeline writes for cp-1, gpu-1 (pool h100) and cpu-1 (pool cpu)."""
    root = tmp_path_factory.mktemp("onprem")
    document = yaml.safe_load((INVENTORIES_DIR / "onprem.yaml").read_text())
    document["onprem"]["hosts"] = [host for host in document["onprem"]["hosts"]
                                   if host["name"] in ("gpu-1", "cpu-1")]
    # A label kubelet refuses to set itself, and one it may set.
    document["node_pools"][0]["labels"] = {"node-role.kubernetes.io/gpu": "",
                                           "aicluster.example/tier": "training"}
    spec = parse_spec(document)
    runner = TerraformRunner(TERRAFORM_DIR / "onprem", root / "terraform", root / "provision.log")
    runner.sync_module(terraform_variables(spec))
    runner.init()
    runner.plan()
    runner.apply_plan()
    outputs = runner.outputs()
    assert [host["name"] for host in outputs["control_plane_hosts"]] == ["cp-1"]
    assert [node["name"] for node in outputs["nodes"]] == ["gpu-1", "cpu-1"]
    path = root / "hosts.yml"
    write_inventory(build_inventory(outputs, root / "work", sys.executable, SshClient()), path)
    return path


def render(inventory: Path, out: Path, extra: dict | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the roles' own preflight and configuration tasks on this machine for every host."""
    playbook = out / "render.yml"
    playbook.write_text(yaml.safe_dump([
        {"name": "Render the control-plane configuration", "hosts": "control_plane",
         "gather_facts": False, "vars_files": [str(REPO_ROOT / "bom.yaml")],
         "vars": {"kubeadm_control_plane_config_dir": str(out) + "/{{ inventory_hostname }}"},
         "tasks": [{"name": f"Run {part}", "ansible.builtin.include_role": {
             "name": "kubeadm_control_plane", "tasks_from": part}} for part in ("preflight", "config")]},
        {"name": "Render the workers' join configuration", "hosts": "nodes",
         "gather_facts": False, "vars_files": [str(REPO_ROOT / "bom.yaml")],
         "vars": {"kubeadm_join_config_dir": str(out) + "/{{ inventory_hostname }}",
                  "kubeadm_control_plane_join_token": FAKE_TOKEN,
                  "kubeadm_control_plane_join_ca_hash": FAKE_CA_HASH},
         "tasks": [{"name": f"Run {part}", "ansible.builtin.include_role": {
             "name": "kubeadm_join", "tasks_from": part}} for part in ("preflight", "config")]},
    ]))
    extra_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                  **(extra or {})}
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         "-e", yaml.safe_dump(extra_vars, default_flow_style=True).strip(), str(playbook)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)


def validate(kubeadm: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kubeadm), "config", "validate", "--config", str(config)],
                          capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def rendered(inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    completed = render(inventory, out)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def documents(path: Path) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(path.read_text()) if doc}


def test_init_configuration_passes_kubeadm_validate(kubeadm: Path, rendered: Path) -> None:
    config = rendered / "cp-1" / "kubeadm-config.yaml"
    assert config.stat().st_mode & 0o777 == 0o600
    completed = validate(kubeadm, config)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    docs = documents(config)
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    cluster = docs["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster["kubernetesVersion"] == load_bom().kubernetes_version
    # No load balancer in the on-prem outputs: the first control-plane host is the endpoint.
    assert cluster["controlPlaneEndpoint"] == "192.0.2.10:6443"
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    gates = {arg["name"]: arg["value"] for arg in cluster["apiServer"]["extraArgs"]}["feature-gates"]
    # Only DRA gates that 1.37 has not locked: DynamicResourceAllocation itself is GA and locked.
    assert gates == "DRAConsumableCapacity=true,DRAPartitionableDevices=true"
    assert docs["KubeletConfiguration"]["featureGates"] == {"DRAConsumableCapacity": True,
                                                           "DRAPartitionableDevices": True}
    init = docs["InitConfiguration"]
    assert init["bootstrapTokens"][0]["ttl"] == "15m" and "token" not in init["bootstrapTokens"][0]
    assert "certificateKey" not in init
    assert init["nodeRegistration"]["name"] == "cp-1"


def test_join_configurations_pass_kubeadm_validate(kubeadm: Path, rendered: Path) -> None:
    for host in ("gpu-1", "cpu-1"):
        config = rendered / host / "kubeadm-join.yaml"
        assert config.stat().st_mode & 0o777 == 0o600
        completed = validate(kubeadm, config)
        assert completed.returncode == 0, f"{host}: {completed.stdout}{completed.stderr}"
    gpu = documents(rendered / "gpu-1" / "kubeadm-join.yaml")["JoinConfiguration"]
    registration = gpu["nodeRegistration"]
    assert registration["name"] == "gpu-1"
    assert registration["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    args = {arg["name"]: arg["value"] for arg in registration["kubeletExtraArgs"]}
    labels = dict(item.split("=", 1) for item in args["node-labels"].split(","))
    assert labels["aicluster.io/pool"] == "h100"
    assert labels["aicluster.example/tier"] == "training"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    # kubelet refuses to start with node-role.kubernetes.io labels: the API sets them after the join.
    assert "node-role.kubernetes.io/gpu" not in labels
    assert args["node-ip"] == "192.0.2.21"
    cpu = documents(rendered / "cpu-1" / "kubeadm-join.yaml")["JoinConfiguration"]
    assert cpu["nodeRegistration"]["taints"] == []
    assert cpu["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "192.0.2.10:6443"


@pytest.mark.parametrize(("change", "message"), [
    (lambda docs: docs["ClusterConfiguration"]["networking"].update(podSubnet="10.244.0.0/33"), "podSubnet"),
    (lambda docs: docs["InitConfiguration"]["localAPIEndpoint"].update(bindPort=70000), "bindPort"),
    (lambda docs: docs["ClusterConfiguration"].update(controlPlaneEndpiont="192.0.2.10:6443"),
     "controlPlaneEndpiont"),
], ids=["bad-cidr", "bad-port", "unknown-field"])
def test_kubeadm_rejects_a_broken_configuration(kubeadm: Path, rendered: Path, tmp_path: Path,
                                                change, message: str) -> None:
    docs = documents(rendered / "cp-1" / "kubeadm-config.yaml")
    change(docs)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(list(docs.values()), sort_keys=False))
    completed = validate(kubeadm, broken)
    assert completed.returncode != 0, completed.stdout
    assert message in completed.stdout + completed.stderr


def test_a_locked_feature_gate_is_refused_before_rendering(inventory: Path, tmp_path: Path) -> None:
    completed = render(inventory, tmp_path,
                       {"kubeadm_control_plane_feature_gates": {"DynamicResourceAllocation": True}})
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert "DynamicResourceAllocation" in output and "locked" in output
    assert not (tmp_path / "cp-1" / "kubeadm-config.yaml").exists()


def test_pod_network_uses_the_cluster_configurations_pod_range(inventory: Path, rendered: Path,
                                                               tmp_path: Path) -> None:
    """The cni role's manifest of the pinned flannel release carries the ClusterConfiguration's
    podSubnet, and an image named in cni_image_digests is pulled by digest."""
    flannel = module_source_dir(load_bom().source("flannel"))
    pod_subnet = documents(rendered / "cp-1" / "kubeadm-config.yaml")["ClusterConfiguration"]["networking"][
        "podSubnet"]
    digest = "sha256:" + "ab" * 32
    image = f"ghcr.io/flannel-io/flannel:{load_bom().source('flannel').version}"
    playbook = tmp_path / "cni.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Render the pod network", "hosts": "control_plane", "gather_facts": False,
        "vars_files": [str(REPO_ROOT / "bom.yaml")],
        "vars": {"cni_source_dir": str(flannel), "cni_manifest_dir": str(tmp_path),
                 "cni_pod_subnet": pod_subnet, "cni_image_digests": {image: digest}},
        "tasks": [{"name": f"Run {part}", "ansible.builtin.include_role": {"name": "cni", "tasks_from": part}}
                  for part in ("preflight", "manifest")]}]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-e",
         yaml.safe_dump({"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                        default_flow_style=True).strip(), str(playbook)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    manifest = [doc for doc in yaml.safe_load_all((tmp_path / "cni-flannel.yaml").read_text()) if doc]
    kinds = {doc["kind"]: doc for doc in manifest}
    assert {"Namespace", "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "ConfigMap",
            "DaemonSet"} <= set(kinds)
    net_conf = json.loads(kinds["ConfigMap"]["data"]["net-conf.json"])
    assert net_conf["Network"] == pod_subnet and net_conf["Backend"] == {"Type": "vxlan"}
    pod = kinds["DaemonSet"]["spec"]["template"]["spec"]
    images = [container["image"] for container in pod["initContainers"] + pod["containers"]]
    assert f"ghcr.io/flannel-io/flannel@{digest}" in images
    assert image not in images
    # The CNI plugin image has no digest given: it keeps the release's tag.
    assert any(name.startswith("ghcr.io/flannel-io/flannel-cni-plugin:") for name in images)
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aicluster" for doc in manifest)
