"""Runs ansible-playbook for the configure stage and reads its recap."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aicluster.errors import AiclusterError
from aicluster.paths import REPO_ROOT

RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)
FAILED_LINE = re.compile(
    r"^(?:fatal: \[(?P<host>[^\]]+)\]: (?:FAILED|UNREACHABLE)!"
    r"|failed: \[(?P<loop_host>[^\]]+)\] \(item=[^)]*\)) => (?P<body>.*)$"
)
TASK_LINE = re.compile(r"^TASK \[(?P<task>.*)\] \**$")


class PlaybookError(AiclusterError):
    """A playbook run that failed; names the task and its message."""


@dataclass(frozen=True)
class Recap:
    ok: int
    changed: int
    unreachable: int
    failed: int
    changed_tasks: tuple[str, ...] = ()


def changed_tasks(output: str) -> tuple[str, ...]:
    """Names of the tasks that reported a change, in order."""
    names: list[str] = []
    task = None
    for line in output.splitlines():
        task_match = TASK_LINE.match(line)
        if task_match:
            task = task_match["task"]
        elif line.startswith("changed: [") and task and task not in names:
            names.append(task)
    return tuple(names)


def parse_recap(output: str) -> Recap:
    totals = {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP_LINE.match(line.strip()) if in_recap else None
        if match:
            for key in totals:
                totals[key] += int(match[key])
    return Recap(**totals, changed_tasks=changed_tasks(output))


def first_failure(output: str) -> str | None:
    """The first failed task of a run, with its message."""
    task = None
    for line in output.splitlines():
        task_match = TASK_LINE.match(line)
        if task_match:
            task = task_match["task"]
            continue
        failed = FAILED_LINE.match(line)
        if failed:
            message = failed["body"]
            try:
                body = yaml.safe_load(message)
                if isinstance(body, dict):
                    message = str(body.get("msg") or body.get("stderr") or message)
            except yaml.YAMLError:
                pass
            host = failed["host"] or failed["loop_host"]
            return f"task '{task}' on {host}: {message.strip()[:600]}"
    # Errors before any task ran: syntax, missing roles, unreadable files.
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(("[ERROR]: ", "ERROR! ")):
            message = line.split(" ", 1)[1].strip()
            origin = next((later.strip() for later in lines[index + 1:index + 4]
                           if later.startswith("Origin: ")), "")
            return f"{message} ({origin})"[:600] if origin else message[:600]
    return None


def ansible_environment(ansible_dir: Path) -> dict[str, str]:
    """The environment of every Ansible command: our config, plain output, private temp dirs."""
    binary_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(ansible_dir / "tmp"),
        ANSIBLE_HOME=str(ansible_dir / "home"),
        PATH=f"{binary_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def unreachable_hosts(report: dict[str, Any]) -> dict[str, str]:
    """Hosts that a ping (Ansible's JSON callback output) could not reach or log in to, with why."""
    problems: dict[str, str] = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("unreachable") or result.get("failed"):
                    problems[host] = str(result.get("msg") or "no answer").strip()[:300]
    return problems


def check_connectivity(inventory: Path, ansible_dir: Path, log_path: Path,
                       timeout_seconds: int = 15) -> dict[str, str]:
    """Pings every host of the inventory over its connection; returns the ones that do not answer."""
    command = [str(Path(sys.executable).parent / "ansible"), "all", "-i", str(inventory),
               "-m", "ansible.builtin.ping", "-T", str(timeout_seconds)]
    ansible_dir.mkdir(parents=True, exist_ok=True)
    env = {**ansible_environment(ansible_dir), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    with log_path.open("a", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n" + completed.stdout + completed.stderr)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise PlaybookError(f"ansible exited {completed.returncode}: "
                            + (completed.stderr.strip().splitlines() or ["no output"])[-1]) from None
    return unreachable_hosts(report)


def run_playbook(playbook: Path, inventory: Path, extra_vars: dict[str, Any],
                 log_path: Path, vars_path: Path) -> Recap:
    """Runs a playbook, appending its output to the log; raises PlaybookError on failure."""
    vars_path.parent.mkdir(parents=True, exist_ok=True)
    vars_path.write_text(yaml.safe_dump(extra_vars, sort_keys=True))
    vars_path.chmod(0o600)
    env = ansible_environment(vars_path.parent)
    binary_dir = Path(sys.executable).parent
    command = [str(binary_dir / "ansible-playbook"), "-i", str(inventory),
               "-e", f"@{vars_path}", str(playbook)]
    with log_path.open("a", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        lines: list[str] = []
        with subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                log.flush()
                lines.append(line)
            returncode = process.wait()
    output = "".join(lines)
    recap = parse_recap(output)
    if returncode != 0:
        cause = first_failure(output) or f"ansible-playbook exited {returncode}"
        raise PlaybookError(cause)
    return recap
