"""The join_credentials entry point of kubeadm_control_plane against a real API server (the local
cluster's): `kubeadm token create` makes a bootstrap token that expires after 15 minutes, the role
publishes it to the batch, and neither the token nor its secret half appears in Ansible's output,
even at -vvv."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from aicluster.binaries import ensure_binaries
from aicluster.paths import REPO_ROOT

from .conftest import Aicluster, CliResult

pytestmark = pytest.mark.integration


def kubectl(kubeconfig: Path, *args: str) -> str:
    log = Path(tempfile.mkdtemp()) / "binaries.log"
    kubectl_binary = ensure_binaries(["kubectl"], lambda _message: None, log)["kubectl"]
    completed = subprocess.run([str(kubectl_binary), f"--kubeconfig={kubeconfig}", *args],
                               capture_output=True, text=True, check=True)
    return completed.stdout


def bootstrap_tokens(kubeconfig: Path) -> dict[str, dict]:
    listed = json.loads(kubectl(kubeconfig, "-n", "kube-system", "get", "secrets",
                                "--field-selector=type=bootstrap.kubernetes.io/token", "-o", "json"))
    return {item["metadata"]["name"]: item for item in listed["items"]}


def test_join_token_is_short_lived_and_never_logged(aicluster: Aicluster, small_cluster: CliResult,
                                                     tmp_path: Path) -> None:
    kubeconfig = aicluster.work_dir("itest-small") / "kubeconfig"
    kubeadm = ensure_binaries(["kubeadm"], lambda _message: None, tmp_path / "binaries.log")["kubeadm"]
    before = set(bootstrap_tokens(kubeconfig))
    playbook = tmp_path / "credentials.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Create join credentials", "hosts": "control_plane", "gather_facts": False,
        "vars_files": [str(REPO_ROOT / "bom.yaml")],
        "tasks": [
            {"name": "Run join_credentials", "ansible.builtin.include_role": {
                "name": "kubeadm_control_plane", "tasks_from": "join_credentials"},
             "vars": {"kubeadm_control_plane_hosts": ["cp-1"],
                      "kubeadm_control_plane_joining_hosts": ["gpu-1"]}},
            # What a joining host would write: the published token, into a file of its own.
            {"name": "Keep the published token", "no_log": True, "ansible.builtin.copy": {
                "content": "{{ kubeadm_control_plane_join_token }} {{ kubeadm_control_plane_join_ca_hash }}",
                "dest": str(tmp_path / "published"), "mode": "0600"}},
        ]}]))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": {"cp-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{kubeadm.parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run(
        # The local cluster's admin kubeconfig stands in for /etc/kubernetes/admin.conf.
        [str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(inventory),
         "-e", f"_kubeadm_control_plane_admin_conf={kubeconfig}", str(playbook)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]

    created = {name: secret for name, secret in bootstrap_tokens(kubeconfig).items() if name not in before}
    assert len(created) == 1, created
    secret = next(iter(created.values()))
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    token = f"{data['token-id']}.{data['token-secret']}"
    assert data["description"] == "join of gpu-1 (aicluster)"
    expires = datetime.fromisoformat(data["expiration"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    published, ca_hash = (tmp_path / "published").read_text().split()
    assert published == token and ca_hash.startswith("sha256:")
    assert data["token-secret"] not in output, "the token's secret reached Ansible's output"
    assert token not in output
    kubectl(kubeconfig, "-n", "kube-system", "delete", "secret", secret["metadata"]["name"])
