#!/usr/bin/python3
"""Runs the command of every static pod manifest in /etc/kubernetes/manifests as a systemd service
named static-pod-<file>, and stops the service of a manifest that is gone; a changed manifest
restarts its service. It looks once a second, as the kubelet does (fileCheckFrequency 20 s).

In the test container the kubelet runs, but it cannot start these pods: their images cannot be
pulled here and containers do not nest. This script stands in for that one step only. The
binaries are the pinned release's, on PATH under the names kubeadm's manifests use; their
host-network pods share the container's network, as the pods would.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import yaml

MANIFESTS = Path("/etc/kubernetes/manifests")
PREFIX = "static-pod-"


def unit_name(manifest: Path) -> str:
    return f"{PREFIX}{manifest.stem}.service"


def command_of(manifest: Path) -> list[str]:
    pod = yaml.safe_load(manifest.read_text())
    container = pod["spec"]["containers"][0]
    return list(container.get("command", [])) + list(container.get("args", []))


def running_units() -> dict[str, str]:
    """Active static-pod units and the manifest digest each one was started with."""
    listed = subprocess.run(
        ["systemctl", "list-units", "--plain", "--no-legend", "--state=active", f"{PREFIX}*"],
        capture_output=True, text=True, check=True)
    units = {}
    for line in listed.stdout.splitlines():
        name = line.split()[0]
        shown = subprocess.run(["systemctl", "show", name, "--property=Description", "--value"],
                               capture_output=True, text=True, check=True)
        units[name] = shown.stdout.strip()
    return units


def sync() -> None:
    wanted = {unit_name(path): path for path in sorted(MANIFESTS.glob("*.yaml"))}
    running = running_units()
    for name in set(running) - set(wanted):
        subprocess.run(["systemctl", "stop", name], check=False)
    for name, path in wanted.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        description = f"static pod {path.name} {digest}"
        if running.get(name) == description:
            continue
        if name in running:
            subprocess.run(["systemctl", "stop", name], check=False)
        subprocess.run(["systemctl", "reset-failed", name], check=False, capture_output=True)
        subprocess.run(["systemd-run", f"--unit={name}", f"--description={description}",
                        "--property=Restart=always", "--property=RestartSec=2", "--",
                        *command_of(path)], check=True)


def main() -> int:
    while True:
        sync()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
