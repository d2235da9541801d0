"""Hosts reached over SSH on this machine: one network namespace per host, joined to a bridge by
a veth pair, each running its own sshd on a 10.x address of our choosing. They isolate the network
only (they share this machine's files), so tests use them up to the SSH connection and no further."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aicluster.host_packages import ensure_packages

SSHD = "/usr/sbin/sshd"


@dataclass
class SshHost:
    name: str
    address: str
    namespace: str
    process: subprocess.Popen[bytes] | None = None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _wait_for_port(host: SshHost, deadline: float) -> None:
    while time.monotonic() < deadline:
        probe = subprocess.run(["ip", "netns", "exec", host.namespace, "ss", "-Hltn",
                                f"sport = :22 and src {host.address}"], capture_output=True, text=True,
                               check=False)
        if probe.stdout.strip():
            return
        time.sleep(0.2)
    raise RuntimeError(f"sshd of {host.name} did not listen on {host.address}:22")


@contextmanager
def ssh_hosts(names: list[str], directory: Path,
              subnet: str = "10.213.7") -> Iterator[tuple[list[SshHost], Path]]:
    """Starts one sshd per name; yields the hosts and the private key that logs in as this user."""
    ensure_packages({SSHD: "openssh-server", "ssh-keygen": "openssh-client", "ss": "iproute2"})
    tag = f"{os.getpid() % 10000}"
    bridge = f"aicbr{tag}"
    key = directory / "id_ed25519"
    for path in (key, directory / "host_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    (directory / "authorized_keys").write_text((directory / "id_ed25519.pub").read_text())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    hosts = [SshHost(name, f"{subnet}.{10 + index}", f"aic{tag}-{index}") for index, name in enumerate(names)]
    _ip("link", "add", bridge, "type", "bridge")
    try:
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for index, host in enumerate(hosts):
            outside, inside = f"aicv{tag}o{index}", f"aicv{tag}i{index}"
            _ip("netns", "add", host.namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", outside, "master", bridge, "up")
            _ip("link", "set", inside, "netns", host.namespace)
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", inside)
            _ip("-n", host.namespace, "link", "set", inside, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            start(host, directory)
        deadline = time.monotonic() + 20
        for host in hosts:
            _wait_for_port(host, deadline)
        yield hosts, key
    finally:
        for index, host in enumerate(hosts):
            stop(host)
            # Deleting our end removes the pair even while the kernel still holds the namespace.
            subprocess.run(["ip", "link", "del", f"aicv{tag}o{index}"], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


def start(host: SshHost, directory: Path) -> None:
    config = directory / f"sshd-{host.name}.conf"
    config.write_text(
        f"ListenAddress {host.address}\nPort 22\nHostKey {directory / 'host_key'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\nPidFile {directory / f'sshd-{host.name}.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    command = ["ip", "netns", "exec", host.namespace, SSHD, "-D", "-e", "-f", str(config)]
    host.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)


def stop(host: SshHost) -> None:
    """Stops the host's sshd and every session it serves (an SSH master connection that Ansible
    keeps open would otherwise still answer, and keep the namespace alive)."""
    pids = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True,
                          check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    if host.process is not None:
        host.process.wait(timeout=10)
    host.process = None
