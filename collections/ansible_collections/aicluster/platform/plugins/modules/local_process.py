#!/usr/bin/python
"""Runs a long-lived process on the control host for the local simulated cluster."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: local_process
short_description: Run a detached process with a PID file, restarted only on change
description:
  - Starts I(argv) detached in its own session, writing its PID to C(<state_dir>/<name>.pid), its
    output to I(log_file) and a fingerprint of its command, environment and I(watch_files).
  - A running process whose fingerprint is unchanged is left alone (changed=false); otherwise it is
    stopped (SIGTERM, then SIGKILL after I(stop_timeout)) and started again.
  - With I(etc_overlay), the process sees C(/etc) through a private overlay whose upper layer is
    that folder, for programs that read files from fixed paths under C(/etc).
options:
  name: {description: Name of the process; names its PID file., type: str, required: true}
  argv: {description: Program and arguments., type: list, elements: str, required: false}
  env: {description: Extra environment variables., type: dict, default: {}}
  state_dir: {description: Folder of the PID and fingerprint files., type: path, required: true}
  log_file: {description: File that receives the output., type: path, required: false}
  watch_files:
    description: Files whose content change restarts the process.
    type: list
    elements: path
    default: []
  etc_overlay: {description: Upper folder of a private overlay over /etc., type: path, required: false}
  state:
    description: Whether the process should run.
    type: str
    choices: [started, stopped]
    default: started
  startup_seconds: {description: Seconds the process must stay alive after a start., type: float, default: 2}
  stop_timeout: {description: Seconds to wait after SIGTERM., type: float, default: 15}
author: aicluster
"""

EXAMPLES = r"""
- name: Run the Kueue controller manager
  aicluster.platform.local_process:
    name: kueue
    argv: ["{{ kueue_binary }}", "--config={{ kueue_work_dir }}/config.yaml"]
    state_dir: "{{ kueue_work_dir }}/pids"
    log_file: "{{ aicluster_work_dir }}/logs/kueue.log"
    watch_files: ["{{ kueue_work_dir }}/config.yaml"]
"""

RETURN = r"""
pid: {description: PID of the running process, or null., type: int, returned: always}
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _environment(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _running_pid(pid_file: Path, owner: str) -> int | None:
    """The recorded process, if it still runs and is ours: started with AICLUSTER_OWNER=<state dir>,
    whatever its command (a new binary version must still find and stop the old process)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and f"AICLUSTER_OWNER={owner}" in _environment(pid) else None


def _fingerprint(params: dict[str, Any]) -> str:
    digest = hashlib.sha256(
        json.dumps([params["argv"], params["env"], params["etc_overlay"]], sort_keys=True).encode()
    )
    for path in params["watch_files"]:
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            digest.update(b"<absent>")
    return digest.hexdigest()


def _stop(pid: int, timeout: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _start(params: dict[str, Any]) -> subprocess.Popen[bytes]:
    argv = params["argv"]
    overlay = params["etc_overlay"]
    if overlay:
        work = overlay.rstrip("/") + ".work"
        Path(overlay).mkdir(parents=True, exist_ok=True)
        Path(work).mkdir(parents=True, exist_ok=True)
        script = (
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={shlex.quote(overlay)},"
            f"workdir={shlex.quote(work)} /etc && exec {shlex.join(argv)}"
        )
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    env = dict(os.environ)
    env.update({key: str(value) for key, value in params["env"].items()})
    # Names the owner in the environment, so that teardown finds the process by its PID file.
    env["AICLUSTER_OWNER"] = params["state_dir"]
    with Path(params["log_file"]).open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "argv": {"type": "list", "elements": "str"},
            "env": {"type": "dict", "default": {}},
            "state_dir": {"type": "path", "required": True},
            "log_file": {"type": "path"},
            "watch_files": {"type": "list", "elements": "path", "default": []},
            "etc_overlay": {"type": "path"},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "startup_seconds": {"type": "float", "default": 2.0},
            "stop_timeout": {"type": "float", "default": 15.0},
        },
        required_if=[("state", "started", ["argv", "log_file"])],
        supports_check_mode=True,
    )
    params = module.params
    state_dir = Path(params["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / (params["name"] + ".pid")
    print_file = state_dir / (params["name"] + ".fingerprint")
    pid = _running_pid(pid_file, params["state_dir"])
    if params["state"] == "stopped":
        if pid is None:
            module.exit_json(changed=False, pid=None)
        if not module.check_mode:
            _stop(pid, params["stop_timeout"])
            pid_file.unlink(missing_ok=True)
        module.exit_json(changed=True, pid=None)

    fingerprint = _fingerprint(params)
    try:
        recorded = print_file.read_text().strip()
    except OSError:
        recorded = ""
    if pid is not None and recorded == fingerprint:
        module.exit_json(changed=False, pid=pid)
    if module.check_mode:
        module.exit_json(changed=True, pid=pid)
    if pid is not None:
        _stop(pid, params["stop_timeout"])
    log_file = Path(params["log_file"])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    process = _start(params)
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + params["startup_seconds"]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_bytes()[-2000:].decode(errors="replace")
            pid_file.unlink(missing_ok=True)
            module.fail_json(
                msg=f"{params['name']} exited with {process.returncode} right after "
                f"starting; end of {params['log_file']}:\n{tail}"
            )
        time.sleep(0.2)
    print_file.write_text(fingerprint + "\n")
    module.exit_json(changed=True, pid=process.pid)


if __name__ == "__main__":
    main()
