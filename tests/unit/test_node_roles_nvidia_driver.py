"""The nvidia_driver role's selection for the operating systems the Molecule scenario cannot install
(Ubuntu 22.04/24.04 with Secure Boot on and off, RHEL 9), and its compatibility checks: the role's
select and preflight tasks run in check mode with the host's facts overridden, and the chosen
variables are read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicluster.paths import REPO_ROOT

CHOSEN = [
    "_nvidia_driver_install_tasks",
    "_nvidia_driver_hold_tasks",
    "_nvidia_driver_precompiled",
    "_nvidia_driver_kernel_packages",
    "_nvidia_driver_userspace_packages",
    "_nvidia_driver_pinned_packages",
    "_nvidia_driver_needs_fabric_manager",
    "_nvidia_driver_secure_boot_state",
    "_nvidia_driver_dkms_module",
]
RHEL_CHOSEN = ["_nvidia_driver_repo", "_nvidia_driver_module_spec"]
POOL_L4 = {"name": "l4", "gpu_product": "L4", "gpus_per_node": 1, "gpu_access": "device-plugin"}
POOL_H100 = {"name": "h100", "gpu_product": "H100-80GB", "gpus_per_node": 8, "gpu_access": "dra"}


def select(
    tmp_path: Path, variables: dict[str, Any], preflight: bool = True
) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path / "chosen.json"
    names = CHOSEN + (RHEL_CHOSEN if variables.get("nvidia_driver_os_family") == "RedHat" else [])
    tasks: list[dict[str, Any]] = [
        {
            "name": "Select",
            "ansible.builtin.include_role": {
                "name": "nvidia_driver",
                "tasks_from": "select.yml",
                "public": True,
            },
        },
        {
            "name": "Write the choice",
            "ansible.builtin.copy": {
                "dest": str(out),
                "mode": "0600",
                "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}",
            },
            "check_mode": False,
        },
    ]
    if preflight:
        tasks.append(
            {
                "name": "Preflight",
                "ansible.builtin.include_role": {"name": "nvidia_driver", "tasks_from": "preflight.yml"},
            }
        )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Select the driver packages",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": [str(REPO_ROOT / "bom.yaml")],
                    "vars": {
                        "ansible_python_interpreter": sys.executable,
                        "nvidia_driver_efivars_dir": str(tmp_path / "no-efivars"),
                        **variables,
                    },
                    "tasks": tasks,
                }
            ]
        )
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--check",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    chosen = json.loads(out.read_text()) if out.exists() else {}
    return completed.returncode, completed.stdout + completed.stderr, chosen


def ubuntu(release: str, secure_boot: str, **more: Any) -> dict[str, Any]:
    return {
        "nvidia_driver_distribution": "Ubuntu",
        "nvidia_driver_os_family": "Debian",
        "nvidia_driver_kernel_release": "6.8.0-45-generic" if release == "24.04" else "5.15.0-119-generic",
        "nvidia_driver_secure_boot": secure_boot,
        "aicluster_pool": POOL_L4,
        "aicluster_node_pools": {"l4": POOL_L4},
        **more,
    }


@pytest.mark.parametrize("release", ["22.04", "24.04"])
def test_ubuntu_secure_boot_takes_signed_precompiled_modules(tmp_path: Path, release: str) -> None:
    rc, output, chosen = select(tmp_path, ubuntu(release, "enabled"))
    assert rc == 0, output
    assert chosen["_nvidia_driver_install_tasks"] == "install-Ubuntu.yml"
    assert chosen["_nvidia_driver_precompiled"] is True
    assert chosen["_nvidia_driver_kernel_packages"] == ["linux-modules-nvidia-580-server-open-generic"]
    assert chosen["_nvidia_driver_userspace_packages"] == [
        "nvidia-driver-580-server-open",
        "nvidia-utils-580-server",
    ]
    assert chosen["_nvidia_driver_hold_tasks"] == "hold-apt.yml"


@pytest.mark.parametrize("release", ["22.04", "24.04"])
def test_ubuntu_without_secure_boot_takes_dkms_with_the_kernel_headers(tmp_path: Path, release: str) -> None:
    rc, output, chosen = select(tmp_path, ubuntu(release, "disabled"))
    assert rc == 0, output
    kernel = "6.8.0-45-generic" if release == "24.04" else "5.15.0-119-generic"
    assert chosen["_nvidia_driver_precompiled"] is False
    assert chosen["_nvidia_driver_kernel_packages"] == [
        "nvidia-dkms-580-server-open",
        f"linux-headers-{kernel}",
    ]


def test_ubuntu_proprietary_module_and_cloud_flavour(tmp_path: Path) -> None:
    rc, output, chosen = select(
        tmp_path,
        ubuntu(
            "24.04",
            "enabled",
            nvidia_driver_kernel_module="proprietary",
            nvidia_driver_kernel_release="6.8.0-1015-aws",
        ),
    )
    assert rc == 0, output
    assert chosen["_nvidia_driver_kernel_packages"] == ["linux-modules-nvidia-580-server-aws"]
    assert chosen["_nvidia_driver_userspace_packages"][0] == "nvidia-driver-580-server"


def test_ubuntu_hgx_h100_gets_fabric_manager(tmp_path: Path) -> None:
    rc, output, chosen = select(
        tmp_path,
        ubuntu("24.04", "disabled", aicluster_pool=POOL_H100, aicluster_node_pools={"h100": POOL_H100}),
    )
    assert rc == 0, output
    assert chosen["_nvidia_driver_needs_fabric_manager"] is True


@pytest.mark.parametrize(
    ("branch", "version", "module", "stream"),
    [
        ("580", "580.126.20", "open", "@nvidia-driver:580-open/default"),
        ("570", "570.195.03", "proprietary", "@nvidia-driver:570-dkms/default"),
    ],
)
def test_rhel9_takes_the_cuda_repository_module_stream_of_the_branch(
    tmp_path: Path, branch: str, version: str, module: str, stream: str
) -> None:
    rc, output, chosen = select(
        tmp_path,
        {
            "nvidia_driver_distribution": "RedHat",
            "nvidia_driver_os_family": "RedHat",
            "nvidia_driver_kernel_release": "5.14.0-427.13.1.el9_4.x86_64",
            "nvidia_driver_secure_boot": "disabled",
            "nvidia_driver_branch": branch,
            "nvidia_driver_version": version,
            "nvidia_driver_kernel_module": module,
            "nvidia_driver_cuda_version": "12.8.0",
            "aicluster_pool": POOL_L4,
            "aicluster_node_pools": {"l4": POOL_L4},
        },
    )
    assert rc == 0, output
    assert chosen["_nvidia_driver_install_tasks"] == "install-RedHat.yml"
    assert chosen["_nvidia_driver_hold_tasks"] == "hold-dnf.yml"
    assert chosen["_nvidia_driver_module_spec"] == stream
    assert chosen["_nvidia_driver_repo"]["baseurl"] == (
        "https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64"
    )
    assert chosen["_nvidia_driver_kernel_packages"] == [
        "kernel-devel-5.14.0-427.13.1.el9_4.x86_64",
        "kernel-headers-5.14.0-427.13.1.el9_4.x86_64",
    ]


def test_rhel9_hgx_takes_the_fabric_manager_profile(tmp_path: Path) -> None:
    rc, output, chosen = select(
        tmp_path,
        {
            "nvidia_driver_distribution": "Rocky",
            "nvidia_driver_os_family": "RedHat",
            "nvidia_driver_kernel_release": "5.14.0-427.13.1.el9_4.x86_64",
            "nvidia_driver_secure_boot": "disabled",
            "aicluster_pool": POOL_H100,
            "aicluster_node_pools": {"h100": POOL_H100},
        },
    )
    assert rc == 0, output
    assert chosen["_nvidia_driver_module_spec"] == "@nvidia-driver:580-open/fm"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"nvidia_driver_branch": "535", "nvidia_driver_version": "535.309.01"},
            "driver branch 535 is too old for CUDA 13.0.0: CUDA 13.x needs branch >= 580",
        ),
        (
            {
                "nvidia_driver_branch": "535",
                "nvidia_driver_version": "535.309.01",
                "nvidia_driver_cuda_version": "12.2.0",
                "aicluster_node_pools": {"h100": POOL_H100},
            },
            "driver branch 535 is too old for the NVIDIA DRA driver, which pools h100 use "
            "(gpu_access dra): it needs branch >= 565",
        ),
        (
            {"nvidia_driver_version": "575.57.08"},
            "nvidia_driver_version 575.57.08 is not a release of branch 580",
        ),
        (
            {"nvidia_driver_secure_boot": "enabled", "nvidia_driver_ubuntu_source": "dkms"},
            "Secure Boot is on and the module would be an unsigned DKMS build on Ubuntu",
        ),
    ],
)
def test_incompatible_choices_are_refused(tmp_path: Path, variables: dict[str, Any], message: str) -> None:
    base = ubuntu("24.04", "disabled")
    rc, output, _ = select(tmp_path, {**base, **variables})
    assert rc != 0, output
    assert message in " ".join(output.split()), output


def debian12(pool: dict[str, Any]) -> dict[str, Any]:
    """A Debian 12 host without Secure Boot in the given pool."""
    return {"nvidia_driver_distribution": "Debian", "nvidia_driver_os_family": "Debian",
            "nvidia_driver_kernel_release": "6.1.0-40-amd64", "nvidia_driver_secure_boot": "disabled",
            "aicluster_pool": pool, "aicluster_node_pools": {pool["name"]: pool}}


def test_debian_has_no_fabric_manager(tmp_path: Path) -> None:
    rc, output, _ = select(tmp_path, {**debian12(POOL_H100), "nvidia_driver_cuda_version": "12.2.0"})
    assert rc != 0
    assert (
        "H100-80GB x8 is an NVSwitch system that needs Fabric Manager 580.126.20, "
        "which Debian does not package"
        in " ".join(output.split())
    ), output


def test_debian_refuses_a_branch_it_does_not_package(tmp_path: Path) -> None:
    """Debian 12 packages branch 535 only: bom.yaml's 580 is refused before anything is installed."""
    rc, output, _ = select(tmp_path, debian12(POOL_L4))
    assert rc != 0
    assert "Debian packages NVIDIA driver branch 535 only, not 580" in " ".join(output.split()), output
