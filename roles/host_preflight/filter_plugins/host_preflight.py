"""Filters of the host_preflight role: what the host looks like, and what is wrong with it.

The role's tasks only read the host (files under /sys and /proc, apt-cache or dnf, df); these
filters turn what they read into facts and into one message per problem, so the role can fail once
with every problem listed.
"""

from __future__ import annotations

from typing import Any

NVIDIA_VENDOR = "10de"
# PCI class codes (first two bytes of the class): 0x0300 VGA controller, 0x0302 3D controller.
GPU_CLASSES = ("0300", "0302")
# An NVSwitch is a bridge (class 0x0680) of NVIDIA's.
NVSWITCH_CLASS = "0680"
SECURE_BOOT_STATES = ("enabled", "disabled", "unknown")
KIB_PER_GIB = 1024 * 1024


def _hex_id(value: str) -> str:
    return value.strip().lower().removeprefix("0x")


def pci_devices(listing: str) -> list[dict[str, str]]:
    """Parses `grep -H . <dir>/*/vendor <dir>/*/device <dir>/*/class` output (lines such as
    `/sys/bus/pci/devices/0000:01:00.0/vendor:0x10de`) into one dict per PCI address."""
    devices: dict[str, dict[str, str]] = {}
    for line in listing.splitlines():
        for attribute in ("vendor", "device", "class"):
            path, marker, value = line.rpartition(f"/{attribute}:")
            if marker:
                address = path.rsplit("/", 1)[-1]
                devices.setdefault(address, {"address": address})[attribute] = _hex_id(value)
                break
    return [devices[address] for address in sorted(devices)]


def nvidia_gpus(devices: list[dict[str, str]]) -> list[dict[str, str]]:
    return [device for device in devices if device.get("vendor") == NVIDIA_VENDOR
            and device.get("class", "")[:4] in GPU_CLASSES]


def nvidia_switches(devices: list[dict[str, str]]) -> list[dict[str, str]]:
    return [device for device in devices if device.get("vendor") == NVIDIA_VENDOR
            and device.get("class", "")[:4] == NVSWITCH_CLASS]


def secure_boot_state(efivar_value: str, efi_firmware: bool, mokutil_output: str = "") -> str:
    """enabled, disabled or unknown, from the SecureBoot EFI variable's value byte (`od -t u1`
    output), else from `mokutil --sb-state`; a host without EFI firmware has no Secure Boot."""
    value = efivar_value.strip()
    if value:
        return "enabled" if value == "1" else "disabled"
    text = mokutil_output.lower()
    if "secureboot enabled" in text:
        return "enabled"
    if "secureboot disabled" in text or "not supported" in text:
        return "disabled"
    return "unknown" if efi_firmware else "disabled"


def driver_source(distribution: str, secure_boot: str, requested: str) -> str:
    """How the kernel module reaches the host: Ubuntu's signed precompiled modules when Secure Boot
    is on, DKMS otherwise; an explicit choice wins."""
    if requested != "auto":
        return requested
    if distribution == "Ubuntu" and secure_boot == "enabled":
        return "precompiled"
    return "dkms"


def _os_supported(distribution: str, version: str, supported: dict[str, list[str]]) -> bool:
    versions = [str(v) for v in supported.get(distribution, [])]
    if distribution == "Ubuntu":
        return version in versions
    return version.split(".")[0] in versions


def _headers_problem(headers: dict[str, Any]) -> str | None:
    if headers.get("installed") or headers.get("candidate"):
        return None
    return (f"kernel headers: no package {headers['package']} is installed or available for the running "
            f"kernel {headers['kernel']} (refresh the package lists, or boot a kernel whose headers the "
            "archive carries)")


def _gpu_problems(devices: list[dict[str, str]], settings: dict[str, Any]) -> list[str]:
    gpus = nvidia_gpus(devices)
    product = settings.get("gpu_product") or ""
    expected = int(settings.get("gpus_per_node") or 0)
    pool = settings.get("pool_name") or "?"
    pci_ids: dict[str, list[str]] = settings.get("pci_ids") or {}
    names = {_hex_id(i): name for name, ids in pci_ids.items() for i in ids}
    found = ", ".join(
        f"{gpu['address']} 10de:{gpu.get('device', '?')} ({names.get(gpu.get('device', ''), 'unknown')})"
        for gpu in gpus) or "none"
    if expected and product and product not in pci_ids:
        return [f"GPU product: {product} has no PCI device ids in the role's map; add them through "
                "host_preflight_extra_gpu_pci_ids"]
    wanted = {_hex_id(i) for i in pci_ids.get(product, [])}
    matching = [gpu for gpu in gpus if gpu.get("device") in wanted]
    if expected and not gpus:
        if not settings.get("require_gpus"):
            return []
        return [f"GPUs: pool {pool} expects {expected} {product} but no NVIDIA GPU (vendor 10de, class "
                "0300/0302) is on the PCI bus; a host without GPUs is only accepted with "
                "host_preflight_require_gpus: false"]
    if gpus and product and len(matching) != len(gpus):
        return [f"GPU product: pool {pool} expects {product} (PCI 10de:{'/'.join(sorted(wanted))}) but the "
                f"PCI bus has: {found}"]
    if expected and len(matching) != expected:
        return [f"GPU count: pool {pool} expects {expected} {product} per node, the PCI bus has "
                f"{len(matching)}: {found}"]
    return []


def problems(observed: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Every problem of the host, one line each; an empty list means the host is fit."""
    found: list[str] = []
    distribution = observed["distribution"]
    version = str(observed["distribution_version"])
    if not _os_supported(distribution, version, settings["supported_os"]):
        matrix = "; ".join(f"{d} {', '.join(map(str, v))}" for d, v in settings["supported_os"].items())
        found.append(f"operating system: {distribution} {version} is not supported (supported: {matrix})")
    headers_problem = _headers_problem(observed["headers"])
    if headers_problem:
        found.append(headers_problem)
    secure_boot = observed["secure_boot"]
    source = driver_source(distribution, secure_boot, settings["driver_source"])
    if secure_boot == "unknown":
        found.append("Secure Boot: the host has EFI firmware but its state cannot be read (no efivarfs, "
                     "no mokutil); set host_preflight_secure_boot to enabled or disabled")
    elif secure_boot == "enabled" and source == "dkms" and not settings["dkms_signing_key_enrolled"]:
        found.append(f"Secure Boot: it is on and the driver would be built with DKMS on {distribution}; an "
                     "unsigned module is refused by the kernel. Use Ubuntu's signed precompiled packages "
                     "(host_preflight_driver_source: precompiled on Ubuntu), enroll the DKMS signing key "
                     "with mokutil and set host_preflight_dkms_signing_key_enrolled: true, or turn Secure "
                     "Boot off")
    if source == "precompiled" and distribution != "Ubuntu":
        found.append(f"driver source: signed precompiled driver packages are only used on Ubuntu, not on "
                     f"{distribution}")
    devices = pci_devices(observed["pci_listing"])
    found.extend(_gpu_problems(devices, settings))
    if nouveau_loaded(observed["proc_modules"]) and not settings["nouveau_reboot_allowed"]:
        found.append("nouveau: the nouveau module is loaded and holds the GPUs; the NVIDIA driver needs it "
                     "blacklisted and a reboot: allow it (host_preflight_nouveau_reboot_allowed: true, and "
                     "the driver role's reboot) or unload nouveau first")
    swap_devices = [line for line in observed["swaps"].splitlines()[1:] if line.strip()]
    if swap_devices and not settings["allow_swap"]:
        names = ", ".join(line.split()[0] for line in swap_devices)
        found.append(f"swap: {names} is active; the kubelet wants swap off "
                     "(or set host_preflight_allow_swap)")
    minimum = float(settings["min_free_disk_gib"])
    for disk in observed["disks"]:
        free_gib = int(disk["available_kib"]) / KIB_PER_GIB
        if free_gib < minimum:
            found.append(f"disk: {disk['path']} has {free_gib:.1f} GiB free, at least {minimum:g} GiB "
                         "are needed for images, the driver build and logs")
    return found


def nouveau_loaded(proc_modules: str) -> bool:
    return any(line.split(" ", 1)[0] == "nouveau" for line in proc_modules.splitlines())


def df_available(output: str, paths: list[str]) -> list[dict[str, Any]]:
    """Parses `df -P -k PATH...` into the free KiB of each path's filesystem."""
    rows = [line.split() for line in output.splitlines()[1:] if line.strip()]
    return [{"path": path, "available_kib": int(row[3])} for path, row in zip(paths, rows, strict=True)]


class FilterModule:
    """host_preflight filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "host_preflight_pci_devices": pci_devices,
            "host_preflight_nvidia_gpus": nvidia_gpus,
            "host_preflight_nvidia_switches": nvidia_switches,
            "host_preflight_secure_boot_state": secure_boot_state,
            "host_preflight_driver_source": driver_source,
            "host_preflight_df_available": df_available,
            "host_preflight_problems": problems,
        }
