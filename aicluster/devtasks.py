"""Developer tasks: the linters and the test suite that `invoke test` (and CI) runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aicluster.paths import REPO_ROOT, TERRAFORM_DIR

PYTEST_NO_TESTS = 5


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _environment() -> dict[str, str]:
    """Puts the virtualenv's tools first on PATH, as ansible-lint and molecule expect."""
    binary_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{binary_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def _check(command: list[str], title: str) -> None:
    print(f"==> {title}", flush=True)
    completed = subprocess.run(command, cwd=REPO_ROOT, env=_environment(), check=False)
    if completed.returncode != 0:
        print(f"{title} failed (exit {completed.returncode})", file=sys.stderr)
        sys.exit(completed.returncode)


def lint() -> None:
    _check([_venv_tool("ruff"), "check", "."], "ruff")
    _check([_venv_tool("yamllint"), "--strict", "."], "yamllint")
    _check([_venv_tool("ansible-lint"), "--profile", "production", "--offline",
            "playbooks", "roles"], "ansible-lint (production profile)")
    _check([sys.executable, "-m", "aicluster.terraform_cli", "fmt", "-check", "-diff",
            "-recursive", str(TERRAFORM_DIR)], "terraform fmt -check")


def test(pytest_args: str = "") -> None:
    lint()
    print("==> pytest", flush=True)
    command = [sys.executable, "-m", "pytest", *pytest_args.split()]
    completed = subprocess.run(command, cwd=REPO_ROOT, env=_environment(), check=False)
    if completed.returncode == PYTEST_NO_TESTS:
        print("pytest collected no tests", file=sys.stderr)
        sys.exit(1)
    sys.exit(completed.returncode)
