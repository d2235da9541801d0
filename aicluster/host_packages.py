"""Debian packages that tests and tools need on the machine that runs them, installed on first use
(a fresh CI machine has none of them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from aicluster.errors import AiclusterError

# Keeps package scripts from starting daemons (an sshd on every interface, say) while installing.
POLICY_RC = Path("/usr/sbin/policy-rc.d")


def _present(command: str) -> bool:
    return shutil.which(command) is not None or Path(command).is_file()


def ensure_packages(commands: dict[str, str]) -> None:
    """Installs the package of every command (name or absolute path) that is missing."""
    missing = sorted({package for command, package in commands.items() if not _present(command)})
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise AiclusterError(f"missing {', '.join(missing)}: install them (as root on Debian: "
                             f"apt-get install {' '.join(missing)})")
    print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    own_policy = not POLICY_RC.exists()
    if own_policy:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        for command in (["apt-get", "update"],
                        ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
            completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                raise AiclusterError(f"{' '.join(command)} failed: "
                                     + (completed.stderr.strip().splitlines() or ["no output"])[-1])
    finally:
        if own_policy:
            POLICY_RC.unlink(missing_ok=True)
