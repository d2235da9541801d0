"""Hosts on this machine: privileged Debian 12 systemd containers with sshd on a podman network of
the test's own, reached over SSH through the inventory the pipeline generates (three hosts; a
second control-plane host and a second GPU host wait outside it for scale.yml). They are privileged
because a kubelet runs in each (it bind-mounts its root directory); they share this machine's
kernel, which the kubelet's guards keep untouched (kernel_tunables.yml of the kubeadm_control_plane
role's scenario, and the kubelet configuration). Everything the fixture creates is removed
afterwards, also when a test fails."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from aicluster.inventory import SshClient, build_inventory, write_inventory
from aicluster.molecule_image import ensure_image, podman_environment
from aicluster.paths import INVENTORIES_DIR, TERRAFORM_DIR
from aicluster.spec import ClusterSpec, parse_spec
from aicluster.targets import terraform_variables
from aicluster.terraform import TerraformRunner

LABEL = "aicluster.test=multihost"
# A private range for the test's podman network; the hosts' addresses are the test's own.
SUBNET = "10.213.7.0/24"
HOSTS = {"cp-1": "10.213.7.11", "gpu-1": "10.213.7.21", "cpu-1": "10.213.7.31",
         "cp-2": "10.213.7.12", "gpu-2": "10.213.7.22"}
# Every host but these is in the first inventory; scale.yml adds them.
LATER_HOSTS = {"cp-2", "gpu-2"}
SSHD_CONTAINERFILE = """\
FROM {base}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server \\
 && apt-get clean \\
 && systemctl enable ssh
"""


def podman(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(["podman", *args], env={**os.environ, **podman_environment()},
                               input=stdin, capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed: {completed.stderr.strip()[-800:]}")
    return completed


def sshd_image() -> str:
    """The Molecule image with openssh-server, built once per base image."""
    base = ensure_image()
    digest = hashlib.sha256((base + SSHD_CONTAINERFILE).encode()).hexdigest()[:16]
    name = f"localhost/aicluster/debian12-sshd:{digest}"
    if podman("image", "exists", name, check=False).returncode != 0:
        with tempfile.TemporaryDirectory() as context:
            (Path(context) / "Containerfile").write_text(SSHD_CONTAINERFILE.format(base=base))
            podman("build", "--pull=never", "-t", name, context)
    return name


def remove_leftovers() -> None:
    """Containers and networks an earlier, killed run of this test left behind (by label)."""
    listed = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False)
    for name in listed.stdout.split():
        podman("rm", "-f", "-t", "0", name, check=False)
    networks = podman("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}", check=False)
    for name in networks.stdout.split():
        podman("network", "rm", "-f", name, check=False)


@dataclass
class Hosts:
    root: Path
    inventory: Path
    work_dir: Path
    private_key: Path
    containers: dict[str, str]
    spec: ClusterSpec

    def add_later_hosts(self) -> None:
        """Regenerates the inventory through the pipeline with the hosts that scale.yml adds."""
        self.spec = write_pipeline_inventory(self.root, self.private_key, set(HOSTS))

    def exec(self, host: str, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.containers[host], *command, check=False)


def _wait_for_ssh(private_key: Path, address: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        completed = subprocess.run(
            ["ssh", "-i", str(private_key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", f"root@{address}", "true"],
            capture_output=True, text=True, check=False)
        if completed.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"sshd of {address} did not answer: {completed.stderr.strip()}")
        time.sleep(1)


def _spec(private_key: Path, names: set[str]) -> ClusterSpec:
    """The on-prem example spec with the named containers as its hosts."""
    document = yaml.safe_load((INVENTORIES_DIR / "onprem.yaml").read_text())
    document["name"] = "multihost"
    document["onprem"]["ssh"] = {"user": "root", "private_key_file": str(private_key)}
    document["onprem"]["control_plane"] = [{"name": name, "address": HOSTS[name]}
                                           for name in ("cp-1", "cp-2") if name in names]
    workers = [
        {"name": "gpu-1", "address": HOSTS["gpu-1"], "pool": "h100", "gpu_product": "H100-80GB"},
        {"name": "gpu-2", "address": HOSTS["gpu-2"], "pool": "h100", "gpu_product": "H100-80GB"},
        {"name": "cpu-1", "address": HOSTS["cpu-1"], "pool": "cpu"},
    ]
    document["onprem"]["hosts"] = [host for host in workers if host["name"] in names]
    return parse_spec(document)


def write_pipeline_inventory(root: Path, private_key: Path, names: set[str]) -> ClusterSpec:
    """The inventory of the named hosts through the real on-prem module and the inventory stage
    (root/work/inventory/hosts.yml); returns the spec."""
    spec = _spec(private_key, names)
    runner = TerraformRunner(TERRAFORM_DIR / "onprem", root / "terraform", root / "provision.log")
    runner.sync_module(terraform_variables(spec))
    runner.init()
    runner.plan()
    runner.apply_plan()
    work_dir = root / "work"
    work_dir.mkdir(exist_ok=True)
    write_inventory(build_inventory(runner.outputs(), work_dir, sys.executable,
                                    SshClient(private_key_file=str(private_key))),
                    work_dir / "inventory" / "hosts.yml")
    return spec


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    root = tmp_path_factory.mktemp("multihost")
    remove_leftovers()
    image = sshd_image()
    private_key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private_key)], check=True)
    suffix = secrets.token_hex(3)
    network = f"aicluster-multihost-{suffix}"
    containers = {host: f"aicluster-multihost-{host}-{suffix}" for host in HOSTS}
    with contextlib.ExitStack() as cleanup:
        podman("network", "create", "--label", LABEL, "--subnet", SUBNET, network)
        cleanup.callback(podman, "network", "rm", "-f", network, check=False)
        for host, address in HOSTS.items():
            cleanup.callback(podman, "rm", "-f", "-t", "0", containers[host], check=False)
            podman("run", "-d", "--name", containers[host], "--hostname", host, "--label", LABEL,
                   "--network", network, "--ip", address, "--systemd=always", "--privileged",
                   image, "/sbin/init")
            podman("exec", "-i", containers[host], "bash", "-c",
                   "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys",
                   stdin=(root / "id_ed25519.pub").read_text())
        for address in HOSTS.values():
            _wait_for_ssh(private_key, address)
        spec = write_pipeline_inventory(root, private_key, set(HOSTS) - LATER_HOSTS)
        work_dir = root / "work"
        yield Hosts(root, work_dir / "inventory" / "hosts.yml", work_dir, private_key, containers, spec)
