"""The lifecycle playbooks across hosts on this machine, reached over SSH through the inventory the
pipeline generates, with the extra variables `invoke configure` passes: cluster.yml makes a real
kubeadm cluster of three hosts (containerd, kubelet, kubeadm init on the first control-plane host,
the workers' joins, the pod network's objects) and sends every platform object to its API server
as a server-side dry run; scale.yml joins a second control-plane host (its etcd member joins the
first one's) and a second GPU host; upgrade.yml reads every node from the API and leaves the ones
at the pinned release alone, then rolls a node left at the previous release (cordon, drain,
`kubeadm upgrade node`, the new kubelet, Ready, uncordon); reset.yml takes the cluster down.

How far this goes, and why: no image can be pulled here (no registry), so no pod runs. The control
plane's static pods run as services (control_plane_stand_in.yml), the pod network's DaemonSet
never starts, so the nodes stay NotReady until the upgrade test gives them a stand-in network
configuration (previous_release.yml), and the platform's objects are checked by the API server
instead of stored. `kubeadm upgrade apply` on the first control-plane host is not run: it needs
the new release's control-plane images. The host stack's driver and preflight are left out: the
driver role builds a kernel module for this machine's kernel, and the preflight refuses a GPU host
without GPUs (both have their own Molecule scenarios)."""

from __future__ import annotations

import functools
import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicluster.ansible import ansible_environment
from aicluster.binaries import ensure_binary_set
from aicluster.bom import load_bom
from aicluster.paths import REPO_ROOT, cache_dir
from aicluster.pipeline import LocalInputs, configure_variables, source_folders
from aicluster.targets import target_plan

from .conftest import HOSTS, Hosts

pytestmark = pytest.mark.integration

SKIPPED_ROLES = ["host_preflight", "nvidia_driver"]
CONTAINER_PLAYS = REPO_ROOT / "roles" / "kubeadm_control_plane" / "molecule" / "default"
# Nothing listens there: every pull through the CRI fails on this address and no other.
MIRROR = "http://127.0.0.1:5999"
TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
# kubeadm's certificate key: 64 hex digits that are not an image or file digest.
CERTIFICATE_KEY = re.compile(r"(?<![:\w])[a-f0-9]{64}\b")
# The tunables kubelet sets on start, which kernel_tunables.yml keeps inside each container.
KERNEL_TUNABLES = list(yaml.safe_load((CONTAINER_PLAYS / "kernel_tunables.yml").read_text())[0]
                       ["vars"]["kubelet_host_kernel_tunables"])


@functools.cache
def binary_sets() -> dict[str, str]:
    """The pinned binaries the hosts install from this machine (fetched or built when missing)."""
    bom = load_bom()
    log = cache_dir() / "logs" / "multihost-binaries.log"
    names = ["containerd", "cri-tools", "kubernetes", "etcd", "gvisor", "nvidia-container-toolkit",
             "kubernetes-previous"]
    return {name: str(ensure_binary_set(bom.binaries[name], lambda _message: None, log)) for name in names}


def host_variables() -> dict[str, Any]:
    """What differs from a real host, each for a reason: binaries from this machine, no image
    registry, the container's own overlay and the shared kernel."""
    sets = binary_sets()
    runc = subprocess.run(["/usr/sbin/runc", "--version"], capture_output=True, text=True, check=True)
    cluster_vars = yaml.safe_load((CONTAINER_PLAYS / "cluster_vars.yml").read_text())
    mirror = {"server": MIRROR, "mirrors": [{"url": MIRROR}]}
    ignored_checks = cluster_vars["kubeadm_control_plane_ignore_preflight_errors"]
    return {
        "aicluster_cluster_skip_roles": SKIPPED_ROLES,
        "containerd_binaries_source": "local",
        "containerd_local_dir": sets["containerd"],
        "containerd_crictl_local_dir": sets["cri-tools"],
        # Debian 12's runc: runc needs cgo, which the binary builder turns off.
        "containerd_runc_source": "local",
        "containerd_runc_local_path": "/usr/sbin/runc",
        "containerd_runc_version": runc.stdout.splitlines()[0].split()[2],
        # overlayfs cannot be stacked on the container's own overlay.
        "containerd_snapshotter": "native",
        "containerd_registry_hosts": [{"registry": "registry.k8s.io", **mirror},
                                      {"registry": "docker.io", **mirror},
                                      {"registry": "ghcr.io", **mirror}],
        "nvidia_container_toolkit_source": "local",
        "nvidia_container_toolkit_local_dir": sets["nvidia-container-toolkit"],
        "gvisor_source": "local",
        "gvisor_local_dir": sets["gvisor"],
        "kubernetes_node_binaries_source": "local",
        "kubernetes_node_binaries_dir": sets["kubernetes"],
        "kubernetes_node_apply_kernel_settings": False,
        "kubeadm_control_plane_kubelet_config": cluster_vars["kubeadm_control_plane_kubelet_config"],
        "kubeadm_control_plane_ignore_preflight_errors": ignored_checks,
        "kubeadm_join_ignore_preflight_errors": ignored_checks,
        # No CNI plugin binaries on these hosts, and the DaemonSet's image cannot be pulled.
        "cni_check_plugins": False,
        "cni_wait_for_rollout": False,
        # No image can be pulled: the API server checks every platform object instead of storing it.
        "aicluster_platform_dry_run": True,
        # Some releases' images have no digest in bom.yaml; a real inventory gives digests instead.
        "aicluster_allow_unpinned_images": True,
    }


def run_playbooks(hosts: Hosts, log_name: str, playbooks: list[Path],
                  extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the configure stage's extra variables, the hosts' and extra; the output
    is kept in the work folder as log_name.log."""
    local = LocalInputs({}, source_folders(target_plan(hosts.spec).sources))
    variables = {**configure_variables(hosts.spec, local, {}), **host_variables(), **(extra or {})}
    vars_path = hosts.work_dir / "ansible" / f"{log_name}-vars.yml"
    vars_path.parent.mkdir(parents=True, exist_ok=True)
    vars_path.write_text(yaml.safe_dump(variables))
    vars_path.chmod(0o600)
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(hosts.inventory),
         "-e", f"@{vars_path}", *map(str, playbooks)],
        cwd=REPO_ROOT, env=ansible_environment(vars_path.parent), capture_output=True, text=True,
        check=False, timeout=3600)
    (hosts.work_dir / f"{log_name}.log").write_text(completed.stdout + completed.stderr)
    return completed


def playbook(name: str) -> Path:
    return REPO_ROOT / "playbooks" / f"{name}.yml"


def prepare_containers(hosts: Hosts) -> None:
    """The containers' guards: kubelet's kernel tunables kept inside each container, and the static
    pods' commands run as services on the control-plane host."""
    completed = run_playbooks(hosts, "prepare", [CONTAINER_PLAYS / "kernel_tunables.yml",
                                                 CONTAINER_PLAYS / "control_plane_stand_in.yml"],
                              {"kubelet_host_binary_sets": binary_sets()})
    assert completed.returncode == 0, completed.stdout[-3000:]


def recap(output: str) -> dict[str, dict[str, int]]:
    result = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if match:
            result[match[1]] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match[2])}
    return result


def kubectl_json(hosts: Hosts, *args: str) -> dict[str, Any]:
    completed = hosts.exec("cp-1", "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", *args, "-o", "json")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def assert_no_secret(output: str) -> None:
    assert not TOKEN.search(output), "a bootstrap token reached the log"
    assert not CERTIFICATE_KEY.search(output), "a certificate key reached the log"


def kernel_settings() -> dict[str, str]:
    return {name: (Path("/proc/sys") / name).read_text().strip() for name in KERNEL_TUNABLES}


@pytest.fixture(scope="module")
def machine_kernel() -> dict[str, str]:
    return kernel_settings()


def test_scale_refuses_a_cluster_that_was_never_initialized(
        hosts: Hosts, machine_kernel: dict[str, str]) -> None:
    completed = run_playbooks(hosts, "scale-refused", [playbook("scale")])
    assert completed.returncode != 0
    assert "cp-1 (the first control-plane host) has no cluster: run cluster.yml first" in completed.stdout
    # No host was prepared for a join that cannot happen.
    assert "PLAY [Prepare the new hosts]" not in completed.stdout, completed.stdout[-3000:]
    assert all(counts["changed"] == 0 for counts in recap(completed.stdout).values())


def test_upgrade_refuses_a_cluster_that_was_never_initialized(hosts: Hosts) -> None:
    completed = run_playbooks(hosts, "upgrade-refused", [playbook("upgrade")])
    assert completed.returncode != 0
    assert "cp-1 (the first control-plane host) has no cluster: run cluster.yml first" in completed.stdout
    # Nothing was cordoned, drained or upgraded: the play stopped before the nodes were touched.
    assert "Cordon and drain" not in completed.stdout, completed.stdout[-3000:]
    assert set(recap(completed.stdout)) == {"cp-1"}, completed.stdout[-3000:]


@pytest.fixture(scope="module")
def first_run(hosts: Hosts) -> subprocess.CompletedProcess[str]:
    prepare_containers(hosts)
    return run_playbooks(hosts, "cluster-first-run", [playbook("cluster")])


def test_cluster_playbook_runs_to_its_end(hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    output = first_run.stdout + first_run.stderr
    assert first_run.returncode == 0, output[-5000:]
    summary = recap(first_run.stdout)
    assert set(summary) == {"cp-1", "gpu-1", "cpu-1", "localhost"}, first_run.stdout[-3000:]
    for host, counts in sorted(summary.items()):
        print(f"cluster.yml first run, {host}: {counts}")
        assert counts["failed"] == 0 and counts["unreachable"] == 0, host
    assert_no_secret(output)
    kubeconfig = hosts.work_dir / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600


def test_every_host_gets_the_node_stack(hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    bom = load_bom()
    version = bom.kubernetes_version
    for host in ("cp-1", "gpu-1", "cpu-1"):
        def output(*command: str, host: str = host) -> str:
            return hosts.exec(host, *command).stdout.strip()

        assert output("/usr/bin/kubelet", "--version") == f"Kubernetes {version}", host
        assert output("/usr/bin/kubeadm", "version", "-o", "short") == version, host
        for service in ("containerd", "kubelet"):
            assert output("systemctl", "is-active", service) == "active", (host, service)
        assert output("systemctl", "is-enabled", "swap.target") == "masked", host
    for host in ("gpu-1", "cpu-1"):
        runtimes = hosts.exec(host, "crictl", "info").stdout
        assert '"runsc"' in runtimes, (host, "containerd has no runsc runtime")
    assert '"nvidia"' in hosts.exec("gpu-1", "crictl", "info").stdout, "containerd has no nvidia runtime"
    assert '"nvidia"' not in hosts.exec("cpu-1", "crictl", "info").stdout


def test_the_hosts_form_one_cluster(hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    bom = load_bom()
    nodes = {node["metadata"]["name"]: node for node in kubectl_json(hosts, "get", "nodes")["items"]}
    assert set(nodes) == {"cp-1", "gpu-1", "cpu-1"}
    for name, node in nodes.items():
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == bom.kubernetes_version, name
        # The containerd built from its module says "2.4.0+unknown": no VCS stamp in a module build.
        runtime = info["containerRuntimeVersion"]
        assert re.fullmatch(rf"containerd://{re.escape(bom.binaries['containerd'].version.lstrip('v'))}(\+\w+)?",
                            runtime), (name, runtime)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        print(f"node {name}: Ready={ready['status']}: {ready.get('message', '')[:200]}")
    assert nodes["gpu-1"]["metadata"]["labels"]["aicluster.io/pool"] == "h100"
    assert nodes["gpu-1"]["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    gpu_taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    assert gpu_taint in nodes["gpu-1"]["spec"]["taints"]
    assert nodes["cpu-1"]["metadata"]["labels"]["aicluster.io/pool"] == "cpu"
    # Only the node lifecycle controller's not-ready taint: the cpu pool has none of its own.
    assert all(t["key"].startswith("node.kubernetes.io/") for t in nodes["cpu-1"]["spec"].get("taints", []))
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" for t in nodes["cp-1"]["spec"]["taints"])


def test_the_pod_network_is_applied_and_the_platform_only_checked(
        hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    flannel = kubectl_json(hosts, "get", "daemonset", "-n", "kube-flannel", "kube-flannel-ds")
    images = [c["image"] for c in flannel["spec"]["template"]["spec"]["containers"]]
    flannel_version = load_bom().raw["manifest_modules"]["flannel"]["version"]
    assert images == [f"ghcr.io/flannel-io/flannel:{flannel_version}"]
    print("kube-flannel-ds:", {key: flannel["status"].get(key, 0)
                               for key in ("desiredNumberScheduled", "numberReady")})
    # The platform plays ran against this API server as a dry run: none of their objects exist.
    namespaces = {item["metadata"]["name"] for item in kubectl_json(hosts, "get", "namespaces")["items"]}
    assert namespaces == {"default", "kube-flannel", "kube-node-lease", "kube-public", "kube-system"}
    assert not kubectl_json(hosts, "get", "runtimeclasses")["items"]


def test_a_second_run_changes_nothing(hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    second = run_playbooks(hosts, "cluster-second-run", [playbook("cluster")])
    assert second.returncode == 0, second.stdout[-4000:]
    for host, counts in recap(second.stdout).items():
        assert counts["changed"] == 0, (host, second.stdout[-4000:])


def test_scale_joins_a_control_plane_member_and_a_worker(
        hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    hosts.add_later_hosts()
    prepare_containers(hosts)
    completed = run_playbooks(hosts, "scale", [playbook("scale")])
    assert completed.returncode == 0, completed.stdout[-4000:]
    summary = recap(completed.stdout)
    for host in ("cp-1", "gpu-1", "cpu-1"):
        assert summary[host]["changed"] == 0, (host, completed.stdout[-4000:])
    assert summary["gpu-2"]["changed"] > 0 and summary["cp-2"]["changed"] > 0
    assert_no_secret(completed.stdout + completed.stderr)
    worker = kubectl_json(hosts, "get", "node", "gpu-2")
    assert worker["metadata"]["labels"]["aicluster.io/pool"] == "h100"
    assert worker["status"]["nodeInfo"]["kubeletVersion"] == load_bom().kubernetes_version
    member = kubectl_json(hosts, "get", "node", "cp-2")
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" for t in member["spec"]["taints"])
    # cp-2's own API server answers, ready with its etcd member in the first host's etcd cluster.
    ready = hosts.exec("cp-1", "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
                       f"--server=https://{HOSTS['cp-2']}:6443", "get", "--raw=/readyz?verbose")
    assert ready.returncode == 0 and "[+]etcd ok" in ready.stdout, ready.stdout + ready.stderr


def test_upgrade_leaves_the_nodes_at_the_pinned_release_alone(
        hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    completed = run_playbooks(hosts, "upgrade", [playbook("upgrade")],
                              {"aicluster_upgrade_components": ["kubernetes"]})
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "Cordon and drain" not in completed.stdout, completed.stdout[-3000:]
    summary = recap(completed.stdout)
    assert set(summary) == set(HOSTS)
    for host, counts in summary.items():
        assert counts["changed"] == 0, host
    assert not any(node["spec"].get("unschedulable") for node in kubectl_json(hosts, "get", "nodes")["items"])


def task_results(output: str, title: str) -> list[tuple[str, str]]:
    """(status, host) of every host that ran the task called title, across the play's batches."""
    results = []
    for section in output.split("TASK [")[1:]:
        if section.startswith(f"{title}]"):
            results += re.findall(r"^(changed|ok|skipping|failed|fatal|included): (?:\S+ for )?\[?([\w.-]+)",
                                  section, re.M)
    return results


def wait_for_node(hosts: Hosts, name: str, version: str, timeout: float = 180) -> dict[str, Any]:
    """The Node once it is Ready with kubelet at version."""
    deadline = time.monotonic() + timeout
    while True:
        node = kubectl_json(hosts, "get", "node", name)
        ready = next((c for c in node["status"].get("conditions", []) if c["type"] == "Ready"), {})
        if node["status"]["nodeInfo"]["kubeletVersion"] == version and ready.get("status") == "True":
            return node
        assert time.monotonic() < deadline, (name, node["status"]["nodeInfo"]["kubeletVersion"], ready)
        time.sleep(3)


def test_upgrade_rolls_a_node_left_at_the_previous_release(
        hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    bom = load_bom()
    previous = bom.binaries["kubernetes-previous"].version
    old_kubelet = Path(binary_sets()["kubernetes-previous"]) / "kubelet-previous"
    prepared = run_playbooks(hosts, "previous-release", [CONTAINER_PLAYS / "previous_release.yml"],
                             {"previous_release_hosts": ["cpu-1"],
                              "previous_release_kubelet": str(old_kubelet)})
    assert prepared.returncode == 0, prepared.stdout[-3000:]
    wait_for_node(hosts, "cpu-1", previous)
    for name in set(HOSTS) - {"cpu-1"}:
        wait_for_node(hosts, name, bom.kubernetes_version)
    ignored_checks = host_variables()["kubeadm_join_ignore_preflight_errors"]
    completed = run_playbooks(hosts, "upgrade-rolling", [playbook("upgrade")],
                              {"aicluster_upgrade_components": ["kubernetes"],
                               "aicluster_upgrade_timeout": 240,
                               "aicluster_upgrade_ignore_preflight_errors": ignored_checks})
    assert completed.returncode == 0, completed.stdout[-5000:]
    summary = recap(completed.stdout)
    for host, counts in sorted(summary.items()):
        print(f"upgrade.yml rolling run, {host}: {counts}")
        assert counts["failed"] == 0, host
        assert (counts["changed"] > 0) == (host == "cpu-1"), (host, completed.stdout[-4000:])
    # Only cpu-1 went through the rolling steps, in this order; `kubeadm upgrade apply` is the first
    # control-plane host's step, and cp-1 was up to date.
    steps = {"Cordon and drain the node": "changed",
             "Upgrade the cluster's control plane (first control-plane host)": "skipping",
             "Upgrade this node's control-plane members or kubelet configuration": "changed",
             "Upgrade kubelet and kubectl": "included",
             "Wait until the node is Ready at the pinned kubelet version": "ok",
             "Uncordon the node": "changed"}
    for step, status in steps.items():
        assert task_results(completed.stdout, step) == [(status, "cpu-1")], step
    positions = [completed.stdout.index(f"TASK [{step}]") for step in steps]
    assert positions == sorted(positions)
    wait_for_node(hosts, "cpu-1", bom.kubernetes_version, timeout=0)
    kubelet = hosts.exec("cpu-1", "/usr/bin/kubelet", "--version").stdout.strip()
    assert kubelet == f"Kubernetes {bom.kubernetes_version}"
    assert not any(node["spec"].get("unschedulable") for node in kubectl_json(hosts, "get", "nodes")["items"])


def test_reset_needs_the_clusters_name_and_keeps_the_binaries(
        hosts: Hosts, first_run: subprocess.CompletedProcess[str]) -> None:
    refused = run_playbooks(hosts, "reset-refused", [playbook("reset")])
    assert refused.returncode != 0
    assert "set aicluster_reset_confirm=multihost" in refused.stdout
    assert hosts.exec("cp-1", "test", "-e", "/etc/kubernetes/admin.conf").returncode == 0
    completed = run_playbooks(hosts, "reset", [playbook("reset")], {"aicluster_reset_confirm": "multihost"})
    assert completed.returncode == 0, completed.stdout[-3000:]
    for host in HOSTS:
        for path in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/aicluster", "/var/lib/etcd/member"):
            assert hosts.exec(host, "test", "-e", path).returncode != 0, (host, path)
        assert hosts.exec(host, "systemctl", "is-active", "kubelet").stdout.strip() != "active", host
        # Binaries stay unless aicluster_reset_remove_packages is set.
        assert hosts.exec(host, "/usr/bin/kubelet", "--version").returncode == 0, host


def test_the_machine_kernel_and_cgroups_are_untouched(
        hosts: Hosts, machine_kernel: dict[str, str], first_run: subprocess.CompletedProcess[str]) -> None:
    assert kernel_settings() == machine_kernel
    cgroups = Path("/sys/fs/cgroup")
    assert not [*cgroups.glob("*/kubepods*"), *cgroups.glob("kubepods*")]
