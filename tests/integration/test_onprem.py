"""The on-prem target end to end against three hosts reached over SSH on this machine, up to the
Ansible connectivity check: these hosts share this machine's files, so nothing is installed on them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Aicluster
from tests.integration.ssh_hosts import ssh_hosts, stop

pytestmark = pytest.mark.integration
NAME = "itest-onprem"


def onprem_spec(directory: Path, addresses: dict[str, str], key: Path) -> Path:
    spec = {
        "name": NAME,
        "target": "onprem",
        "onprem": {
            # This machine's root login finds a pyenv shim first; real hosts rarely need this.
            "ssh": {"user": "root", "private_key_file": str(key), "python_interpreter": "/usr/bin/python3"},
            "control_plane": [{"name": "cp-1", "address": addresses["cp-1"]}],
            "hosts": [
                {"name": "gpu-1", "address": addresses["gpu-1"], "pool": "l4", "gpu_product": "L4"},
                {"name": "cpu-1", "address": addresses["cpu-1"], "pool": "cpu"},
            ],
        },
        "node_pools": [
            {"name": "l4", "gpu": {"product": "L4", "count": 1}, "nodes": {"min": 1, "max": 4}},
            {"name": "cpu", "nodes": {"min": 1, "max": 4}},
        ],
    }
    path = directory / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_onprem_hosts_are_provisioned_inventoried_and_checked(aicluster: Aicluster, tmp_path: Path) -> None:
    with ssh_hosts(["cp-1", "gpu-1", "cpu-1"], tmp_path) as (hosts, key):
        spec = str(onprem_spec(tmp_path, {host.name: host.address for host in hosts}, key))
        work_dir = aicluster.work_dir(NAME)

        provision = aicluster.run("provision", "--spec", spec)
        assert provision.returncode == 0, provision.stdout + provision.stderr
        assert "3 hosts in 2 pools, written" in provision.stdout
        inventory = yaml.safe_load((work_dir / "inventory" / "hosts.yml").read_text())["all"]
        gpu_host = inventory["children"]["nodes"]["children"]["pool_l4"]["hosts"]["gpu-1"]
        assert gpu_host["ansible_host"] == hosts[1].address
        assert gpu_host["ansible_user"] == "root"
        assert gpu_host["ansible_ssh_private_key_file"] == str(key)
        assert inventory["vars"]["aicluster_api_endpoint"] == f"https://{hosts[0].address}:6443"
        # Nothing to create on-prem: the second provision plans no change at all.
        again = aicluster.run("provision", "--spec", spec)
        assert again.returncode == 0 and "Terraform: No changes" in again.stdout, again.stdout

        reached = aicluster.run("ping", "--spec", spec)
        assert reached.returncode == 0, reached.stdout + reached.stderr
        assert "3 hosts answered over SSH" in reached.stdout
        # Each host key was recorded on first contact (hashed), and is checked from now on.
        assert len((work_dir / "known_hosts").read_text().splitlines()) == 3

        stop(hosts[1])
        unreachable = aicluster.run("ping", "--spec", spec)
        assert unreachable.returncode == 1
        assert "1 host(s) cannot be reached over SSH" in unreachable.stderr
        reason = next(line for line in unreachable.stderr.splitlines() if line.strip().startswith("gpu-1:"))
        assert f"connect to host {hosts[1].address} port 22: Connection refused" in reason
        configure = aicluster.run("configure", "--spec", spec)
        assert configure.returncode == 1
        assert "stage 'configure' failed: 1 host(s) cannot be reached over SSH; nothing was installed" \
            in configure.stderr
        assert "ansible-playbook" not in (work_dir / "logs" / "configure.log").read_text()

        destroyed = aicluster.run("destroy", "--spec", spec)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        assert not work_dir.exists()
