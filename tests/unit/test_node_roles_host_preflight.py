"""The host_preflight role's filters: how the host is read, and every problem it reports."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from aicluster.paths import REPO_ROOT

SPEC = importlib.util.spec_from_file_location(
    "host_preflight_filters", REPO_ROOT / "roles/host_preflight/filter_plugins/host_preflight.py")
assert SPEC and SPEC.loader
filters: ModuleType = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(filters)

PCI_LISTING = "\n".join([
    "/sys/bus/pci/devices/0000:00:00.0/vendor:0x8086",
    "/sys/bus/pci/devices/0000:00:00.0/device:0x1237",
    "/sys/bus/pci/devices/0000:00:00.0/class:0x060000",
    "/sys/bus/pci/devices/0000:17:00.0/vendor:0x10de",
    "/sys/bus/pci/devices/0000:17:00.0/device:0x2330",
    "/sys/bus/pci/devices/0000:17:00.0/class:0x030200",
    "/sys/bus/pci/devices/0000:18:00.0/class:0x030200",
    "/sys/bus/pci/devices/0000:18:00.0/vendor:0x10de",
    "/sys/bus/pci/devices/0000:18:00.0/device:0x2330",
    "/sys/bus/pci/devices/0000:a0:00.0/vendor:0x10de",
    "/sys/bus/pci/devices/0000:a0:00.0/device:0x22a3",
    "/sys/bus/pci/devices/0000:a0:00.0/class:0x068000",
])
PCI_IDS = {"H100-80GB": ["2330", "2331"], "T4": ["1eb8"]}
SUPPORTED = {"Ubuntu": ["22.04", "24.04"], "Debian": ["12"], "RedHat": ["9"], "Rocky": ["9"]}


def observed(**overrides: Any) -> dict[str, Any]:
    base = {
        "distribution": "Debian", "distribution_version": "12.7",
        "headers": {"kernel": "6.1.0-40-amd64", "package": "linux-headers-6.1.0-40-amd64",
                    "installed": False, "candidate": True},
        "secure_boot": "disabled", "pci_listing": PCI_LISTING,
        "proc_modules": "overlay 151552 0 - Live 0x0\n",
        "swaps": "Filename\tType\tSize\tUsed\tPriority\n",
        "disks": [{"path": "/var", "available_kib": 50 * 1024 * 1024}],
    }
    return {**base, **overrides}


def settings(**overrides: Any) -> dict[str, Any]:
    base = {
        "supported_os": SUPPORTED, "pool_name": "h100", "gpu_product": "H100-80GB", "gpus_per_node": 2,
        "require_gpus": True, "pci_ids": PCI_IDS, "driver_source": "auto",
        "dkms_signing_key_enrolled": False, "nouveau_reboot_allowed": False, "allow_swap": False,
        "min_free_disk_gib": 20,
    }
    return {**base, **overrides}


def test_pci_listing_is_parsed_per_address_whatever_the_line_order() -> None:
    devices = filters.pci_devices(PCI_LISTING)
    assert [d["address"] for d in devices] == ["0000:00:00.0", "0000:17:00.0", "0000:18:00.0", "0000:a0:00.0"]
    assert devices[2] == {"address": "0000:18:00.0", "vendor": "10de", "device": "2330", "class": "030200"}
    assert [g["address"] for g in filters.nvidia_gpus(devices)] == ["0000:17:00.0", "0000:18:00.0"]
    assert [s["device"] for s in filters.nvidia_switches(devices)] == ["22a3"]


def test_a_healthy_host_has_no_problem() -> None:
    assert filters.problems(observed(), settings()) == []


@pytest.mark.parametrize(("efivar", "efi", "mokutil", "state"), [
    (" 1\n", True, "", "enabled"), (" 0\n", True, "", "disabled"),
    ("", True, "SecureBoot enabled\n", "enabled"), ("", True, "SecureBoot disabled\n", "disabled"),
    ("", True, "EFI variables are not supported on this system\n", "disabled"),
    ("", True, "", "unknown"), ("", False, "", "disabled"),
])
def test_secure_boot_state(efivar: str, efi: bool, mokutil: str, state: str) -> None:
    assert filters.secure_boot_state(efivar, efi, mokutil) == state


@pytest.mark.parametrize(("distribution", "secure_boot", "requested", "source"), [
    ("Ubuntu", "enabled", "auto", "precompiled"), ("Ubuntu", "disabled", "auto", "dkms"),
    ("Debian", "enabled", "auto", "dkms"), ("RedHat", "enabled", "auto", "dkms"),
    ("Debian", "disabled", "precompiled", "precompiled"),
])
def test_driver_source(distribution: str, secure_boot: str, requested: str, source: str) -> None:
    assert filters.driver_source(distribution, secure_boot, requested) == source


@pytest.mark.parametrize(("distribution", "version", "supported"), [
    ("Ubuntu", "22.04", True), ("Ubuntu", "24.04", True), ("Ubuntu", "20.04", False),
    ("Ubuntu", "24.10", False),
    ("Debian", "12.7", True), ("Debian", "11.9", False), ("RedHat", "9.4", True), ("Rocky", "9.5", True),
    ("RedHat", "8.10", False), ("Fedora", "40", False),
])
def test_os_matrix(distribution: str, version: str, supported: bool) -> None:
    found = filters.problems(observed(distribution=distribution, distribution_version=version),
                             settings(driver_source="dkms"))
    assert any(p.startswith("operating system:") for p in found) is not supported, found


def test_missing_headers() -> None:
    headers = {"kernel": "6.1.0-99-amd64", "package": "linux-headers-6.1.0-99-amd64",
               "installed": False, "candidate": False}
    assert filters.problems(observed(headers=headers), settings()) == [
        "kernel headers: no package linux-headers-6.1.0-99-amd64 is installed or available for the "
        "running kernel 6.1.0-99-amd64 (refresh the package lists, or boot a kernel whose headers the "
        "archive carries)"]
    installed = {**headers, "installed": True}
    assert filters.problems(observed(headers=installed), settings()) == []


def test_secure_boot_refuses_unsigned_dkms_but_not_ubuntu_precompiled_or_an_enrolled_key() -> None:
    found = filters.problems(observed(secure_boot="enabled"), settings())
    assert len(found) == 1
    assert found[0].startswith("Secure Boot: it is on and the driver would be built with DKMS")
    assert filters.problems(observed(secure_boot="enabled", distribution="Ubuntu",
                                     distribution_version="24.04"), settings()) == []
    assert filters.problems(observed(secure_boot="enabled"), settings(dkms_signing_key_enrolled=True)) == []
    ubuntu_dkms = filters.problems(observed(secure_boot="enabled", distribution="Ubuntu",
                                            distribution_version="22.04"), settings(driver_source="dkms"))
    assert len(ubuntu_dkms) == 1 and "DKMS on Ubuntu" in ubuntu_dkms[0]
    unknown = filters.problems(observed(secure_boot="unknown"), settings())
    assert len(unknown) == 1 and unknown[0].startswith("Secure Boot: the host has EFI firmware")


def test_precompiled_outside_ubuntu_is_refused() -> None:
    found = filters.problems(observed(), settings(driver_source="precompiled"))
    assert found == [
        "driver source: signed precompiled driver packages are only used on Ubuntu, not on Debian"]


def test_gpu_product_count_and_absence() -> None:
    wrong = filters.problems(observed(), settings(gpu_product="T4"))
    assert wrong == ["GPU product: pool h100 expects T4 (PCI 10de:1eb8) but the PCI bus has: "
                     "0000:17:00.0 10de:2330 (H100-80GB), 0000:18:00.0 10de:2330 (H100-80GB)"]
    count = filters.problems(observed(), settings(gpus_per_node=8))
    assert len(count) == 1 and count[0].startswith("GPU count: pool h100 expects 8 H100-80GB per node, "
                                                   "the PCI bus has 2")
    no_bus = observed(pci_listing="/sys/bus/pci/devices/0000:00:00.0/vendor:0x8086\n"
                                  "/sys/bus/pci/devices/0000:00:00.0/class:0x060000")
    absent = filters.problems(no_bus, settings())
    assert len(absent) == 1 and "no NVIDIA GPU" in absent[0]
    assert "host_preflight_require_gpus: false" in absent[0]
    assert filters.problems(no_bus, settings(require_gpus=False)) == []
    unknown = filters.problems(observed(), settings(gpu_product="RTX-9000"))
    assert len(unknown) == 1 and "host_preflight_extra_gpu_pci_ids" in unknown[0]
    cpu_pool = filters.problems(no_bus, settings(gpu_product="", gpus_per_node=0))
    assert cpu_pool == []


def test_nouveau_swap_and_disk() -> None:
    nouveau = observed(proc_modules="nouveau 2994176 0 - Live 0x0\nnouveau_extra 1 0 - Live 0x0\n")
    assert len(filters.problems(nouveau, settings())) == 1
    assert filters.problems(nouveau, settings(nouveau_reboot_allowed=True)) == []
    lookalike = observed(proc_modules="nouveau_extra 1 0 - Live 0x0\n")
    assert filters.problems(lookalike, settings()) == []
    swap = observed(swaps="Filename\tType\tSize\tUsed\tPriority\n/swap.img file 8388604 0 -2\n")
    assert filters.problems(swap, settings()) == [
        "swap: /swap.img is active; the kubelet wants swap off (or set host_preflight_allow_swap)"]
    assert filters.problems(swap, settings(allow_swap=True)) == []
    small = observed(disks=[{"path": "/var", "available_kib": 5 * 1024 * 1024}])
    assert filters.problems(small, settings()) == [
        "disk: /var has 5.0 GiB free, at least 20 GiB are needed for images, the driver build and logs"]


def test_every_problem_is_listed_at_once() -> None:
    headers = {"kernel": "k", "package": "linux-headers-k", "installed": False, "candidate": False}
    found = filters.problems(
        observed(distribution="Fedora", distribution_version="40", headers=headers, secure_boot="enabled",
                 proc_modules="nouveau 1 0 - Live 0x0\n", swaps="Filename\n/dev/sda2 partition 1 0 -2\n",
                 disks=[{"path": "/var", "available_kib": 1024}]),
        settings(gpu_product="T4"))
    assert [p.split(":", 1)[0] for p in found] == [
        "operating system", "kernel headers", "Secure Boot", "GPU product", "nouveau", "swap", "disk"]


def test_df_output() -> None:
    output = ("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"
              "/dev/vda        264212084 19319648  76181616      21% /\n"
              "/dev/vdb          1000000   900000    100000      90% /var/lib\n")
    assert filters.df_available(output, ["/var", "/var/lib/containerd"]) == [
        {"path": "/var", "available_kib": 76181616}, {"path": "/var/lib/containerd", "available_kib": 100000}]

