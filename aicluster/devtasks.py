"""Developer tasks: the linters and the test suite that `invoke test` (and CI) runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aicluster.molecule_image import MoleculeImageError, molecule_environment
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
    _check([sys.executable, "-m", "aicluster.iac_checks"],
           "Terraform config loader, checkov, tflint (installs/builds them on first run)")


def test(pytest_args: str = "") -> None:
    lint()
    print("==> pytest", flush=True)
    command = [sys.executable, "-m", "pytest", *pytest_args.split()]
    completed = subprocess.run(command, cwd=REPO_ROOT, env=_environment(), check=False)
    if completed.returncode == PYTEST_NO_TESTS:
        print("pytest collected no tests", file=sys.stderr)
        sys.exit(1)
    sys.exit(completed.returncode)


def molecule(role: str, scenario: str = "default", command: str = "test") -> None:
    """Runs `molecule <command> -s <scenario>` in roles/<role>, with the image and environment ready."""
    role_dir = REPO_ROOT / "roles" / role
    if not (role_dir / "molecule" / scenario / "molecule.yml").is_file():
        print(f"roles/{role}/molecule/{scenario}/molecule.yml does not exist", file=sys.stderr)
        sys.exit(2)
    try:
        env = molecule_environment(role)
    except MoleculeImageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    completed = subprocess.run([_venv_tool("molecule"), command, "-s", scenario], cwd=role_dir, env=env,
                               check=False)
    sys.exit(completed.returncode)
