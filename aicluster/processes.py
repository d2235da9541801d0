"""Processes that a cluster's work directory owns: found by PID file, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def environment_names_path(pid: int, marker: str) -> bool:
    """Whether the process's environment mentions the path (AICLUSTER_OWNER, KUBECONFIG, ...)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return marker.encode() in raw


def owned_pids(work_dir: Path) -> list[int]:
    """Live processes started for this work directory: from PID files, then any process
    whose command line names the directory (one whose PID file was never written)."""
    marker = str(work_dir)
    found: set[int] = set()
    for pid_file in work_dir.rglob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if marker in command_line(pid) or environment_names_path(pid, marker):
            found.add(pid)
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own:
            pid = int(entry.name)
            if pid not in found and marker in command_line(pid) and _is_long_running(pid):
                found.add(pid)
    return sorted(found)


def process_name(pid: int) -> str:
    """The program's name, or the module's for `python -m module`."""
    arguments = command_line(pid).split(" ")
    name = arguments[0].rsplit("/", 1)[-1]
    if name.startswith("python") and len(arguments) > 2 and arguments[1] == "-m":
        return arguments[2]
    return name


def _is_long_running(pid: int) -> bool:
    """Skips short-lived tools (a shell running `grep DIR`) that merely mention the path."""
    name = command_line(pid).split(" ", 1)[0].rsplit("/", 1)[-1]
    return name not in {"grep", "bash", "sh", "find", "tail", "less", "cat"}


# Clients stop before the API server, and the API server before etcd: an API server
# whose etcd is gone retries its connection instead of shutting down.
SHUTDOWN_RANK = {"kube-apiserver": 1, "etcd": 2}


def shutdown_rank(pid: int) -> int:
    name = command_line(pid).split(" ", 1)[0].rsplit("/", 1)[-1]
    return SHUTDOWN_RANK.get(name, 0)


def stop_in_order(pids: list[int], grace_seconds: float = 15.0) -> list[int]:
    """Stops clients first, then the API server, then etcd. Returns the PIDs signalled."""
    ranked: dict[int, list[int]] = {}
    for pid in pids:
        ranked.setdefault(shutdown_rank(pid), []).append(pid)
    signalled: list[int] = []
    for rank in sorted(ranked):
        signalled += stop(ranked[rank], grace_seconds)
    return signalled


def stop(pids: list[int], grace_seconds: float = 15.0) -> list[int]:
    """Terminates the processes, then kills those still alive after the grace period.
    Returns the PIDs that were signalled."""
    signalled = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append(pid)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(_alive(pid) for pid in signalled):
        time.sleep(0.2)
    for pid in signalled:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in signalled):
        time.sleep(0.1)
    return signalled


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"
