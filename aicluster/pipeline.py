"""The stages, identical for every target: provision -> inventory -> configure -> validate -> report.

Each stage is idempotent and logs to the cluster's work directory; a run that was
interrupted completes when it is run again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aicluster import configure_record, processes
from aicluster.ansible import PlaybookError, Recap, check_connectivity, run_playbook
from aicluster.binaries import ensure_binaries, module_source_dir
from aicluster.bom import load_bom
from aicluster.catalog import CLOUDS
from aicluster.cloud_preflight import require_cloud
from aicluster.console import Console, StageLine
from aicluster.errors import AiclusterError, StageError
from aicluster.inventory import SshClient, build_inventory, write_inventory
from aicluster.paths import cluster_dir
from aicluster.ports import allocate_ports
from aicluster.spec import ClusterSpec
from aicluster.targets import TargetPlan, target_plan, terraform_variables
from aicluster.teardown import find_leftovers, leak_search, release_controller_resources
from aicluster.terraform import TerraformRunner


@dataclass(frozen=True)
class Workspace:
    """The files of one cluster under its work directory."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory" / "hosts.yml"

    @property
    def outputs(self) -> Path:
        return self.root / "terraform-outputs.json"

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    def log(self, stage: str) -> Path:
        path = self.root / "logs" / f"{stage}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @classmethod
    def of(cls, spec: ClusterSpec) -> Workspace:
        return cls(cluster_dir(spec.name))


@contextlib.contextmanager
def cluster_lock(workspace: Workspace) -> Iterator[None]:
    """One pipeline at a time per cluster."""
    workspace.root.mkdir(parents=True, exist_ok=True)
    workspace.root.chmod(0o700)
    with (workspace.root / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AiclusterError(
                f"another aicluster command is working on {workspace.root}; wait for it"
            ) from None
        yield


@contextlib.contextmanager
def _stage(console: Console, name: str, log: Path) -> Iterator[StageLine]:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n===== {name} {time.strftime('%Y-%m-%dT%H:%M:%S%z')} =====\n")
    with console.stage(name) as line:
        try:
            yield line
        except StageError:
            raise
        except AiclusterError as error:
            raise StageError(name, str(error), log) from error


@dataclass(frozen=True)
class LocalInputs:
    """What the configure stage of a local cluster needs from this machine."""

    binaries: dict[str, str]
    sources: dict[str, str]


def source_folders(names: list[str]) -> dict[str, str]:
    """The folder of each pinned source module on this machine, downloaded when missing."""
    bom = load_bom()
    return {name: str(module_source_dir(bom.source(name))) for name in names}


def stage_binaries(console: Console, plan: TargetPlan, workspace: Workspace) -> LocalInputs:
    log = workspace.log("binaries")
    with _stage(console, "binaries", log) as line:
        paths = ensure_binaries(plan.binaries, console.progress("binaries"), log)
        bom = load_bom()
        sources = source_folders(plan.sources)
        sets = sorted({bom.binary_set_of(name).name for name in plan.binaries})
        pinned = [f"{name} {bom.binaries[name].version}" for name in sets]
        pinned += [f"{name} {bom.source(name).version} (source)" for name in plan.sources if name not in sets]
        line.summary = ", ".join(pinned)
        return LocalInputs({name: str(path) for name, path in paths.items()}, sources)


def prepare_inputs(spec: ClusterSpec) -> dict[str, Any]:
    """Everything the provision stage needs that can fail, checked before any file or cloud
    resource exists: the cloud's reachability, then the module's inputs."""
    if spec.target in CLOUDS:
        require_cloud(spec.target)
    return terraform_variables(spec)


def stage_provision(console: Console, plan: TargetPlan, workspace: Workspace,
                    variables: dict[str, Any]) -> dict[str, Any]:
    log = workspace.log("provision")
    with _stage(console, "provision", log) as line:
        runner = TerraformRunner(plan.module_dir, workspace.terraform_dir, log)
        runner.sync_module(variables)
        runner.init()
        result = runner.plan()
        if result.changed:
            runner.apply_plan()
        line.summary = f"Terraform: {result.summary}"
        outputs = runner.outputs()
        workspace.outputs.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
        return outputs


def ssh_client(spec: ClusterSpec) -> SshClient:
    access = spec.cloud.ssh if spec.cloud else spec.onprem.ssh if spec.onprem else None
    if access is None:
        return SshClient()
    return SshClient(private_key_file=access.private_key_file, port=access.port,
                     python_interpreter=access.python_interpreter)


def stage_inventory(console: Console, spec: ClusterSpec, outputs: dict[str, Any],
                    workspace: Workspace) -> Path:
    log = workspace.log("inventory")
    with _stage(console, "inventory", log) as line:
        inventory = build_inventory(outputs, workspace.root, sys.executable, ssh_client(spec))
        changed = write_inventory(inventory, workspace.inventory)
        hosts = len(outputs["control_plane_hosts"]) + len(outputs["nodes"])
        line.summary = (f"{hosts} hosts in {len(outputs['node_pools'])} pools, "
                        f"{'written' if changed else 'unchanged'}: {workspace.inventory}")
        return workspace.inventory


def configure_variables(spec: ClusterSpec, local: LocalInputs, ports: dict[str, int]) -> dict[str, Any]:
    """The extra variables of every configure playbook."""
    return {
        "aicluster_spec": spec.model_dump(mode="json"),
        "aicluster_binaries": local.binaries,
        "aicluster_sources": local.sources,
        "aicluster_local_ports": ports,
    }


def stage_configure(console: Console, spec: ClusterSpec, plan: TargetPlan, workspace: Workspace,
                    local: LocalInputs, skip_when_unchanged: bool = False) -> None:
    """Runs the target's playbooks. With skip_when_unchanged (a re-build of a local cluster), Ansible
    runs only when the inputs or the cluster differ from the record of the last configure."""
    log = workspace.log("configure")
    with _stage(console, "configure", log) as line:
        extra_vars = configure_variables(spec, local,
                                         allocate_ports(workspace.root / "ports.json", plan.ports))
        recorded = spec.target == "local"
        if recorded:
            playbooks = [[str(path) for path in phase] for phase in plan.playbook_phases]
            inputs = configure_record.inputs_digest({**extra_vars, "playbooks": playbooks},
                                                    workspace.inventory)
            if skip_when_unchanged and nothing_to_configure(workspace, inputs, line, log):
                return
            configure_record.forget(workspace.root)
        else:
            require_reachable_hosts("configure", workspace, log)
        recaps: list[Recap] = []
        for phase in plan.playbook_phases:
            recaps += run_phase(phase, workspace, extra_vars)
        ok, changed = sum(r.ok for r in recaps), sum(r.changed for r in recaps)
        line.summary = (f"Ansible: {sum(len(phase) for phase in plan.playbook_phases)} playbooks, "
                        f"ok={ok} changed={changed}" + (" (no changes)" if changed == 0 else ""))
        changed_names = [name for recap in recaps for name in recap.changed_tasks]
        if changed_names:
            line.notes.append("changed: " + "; ".join(changed_names[:8])
                              + (" …" if len(changed_names) > 8 else ""))
        if recorded and not configure_record.record_configure(workspace.root, workspace.kubeconfig, inputs):
            line.notes.append("the cluster's API could not be read afterwards: the next build runs Ansible")


def nothing_to_configure(workspace: Workspace, inputs: str, line: StageLine, log: Path) -> bool:
    """Whether the inputs and the cluster are as the last configure left them; says why not."""
    record, reasons = configure_record.unchanged_since(workspace.root, workspace.kubeconfig, inputs)
    if record is None or reasons:
        line.notes.append("Ansible runs because of " + "; ".join(reasons))
        return False
    line.summary = (f"no changes: inputs as at the last configure ({record.recorded_at}), "
                    + configure_record.summarize(record.state))
    line.notes.append("Ansible not run (`invoke configure` runs every playbook again)")
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"skipped Ansible: {line.summary}\n")
    return True


def require_reachable_hosts(stage: str, workspace: Workspace, log: Path) -> int:
    """Fails the stage, naming every host that does not answer over SSH; returns how many answered."""
    inventory = yaml.safe_load(workspace.inventory.read_text())
    unreachable = check_connectivity(workspace.inventory, workspace.root / "ansible", log)
    if unreachable:
        raise StageError(stage, f"{len(unreachable)} host(s) cannot be reached over SSH; nothing was "
                         "installed:\n" + "\n".join(f"    {host}: {reason}"
                                                     for host, reason in sorted(unreachable.items())), log)
    return len(_host_names(inventory["all"]))


def _host_names(group: dict[str, Any]) -> set[str]:
    names = set(group.get("hosts") or {})
    for child in (group.get("children") or {}).values():
        names |= _host_names(child or {})
    return names


def ping(console: Console, spec: ClusterSpec) -> None:
    """Checks that every host of the inventory answers over SSH, before anything is installed."""
    workspace = Workspace.of(spec)
    if spec.target == "local":
        raise AiclusterError("the local target has no hosts to reach over SSH")
    if not workspace.inventory.is_file():
        raise StageError("connectivity", f"no inventory at {workspace.inventory}: "
                         "run `invoke provision` first")
    with cluster_lock(workspace):
        log = workspace.log("connectivity")
        with _stage(console, "connectivity", log) as line:
            reached = require_reachable_hosts("connectivity", workspace, log)
            line.summary = f"{reached} hosts answered over SSH"


def run_phase(playbooks: list[Path], workspace: Workspace, extra_vars: dict[str, Any]) -> list[Recap]:
    """Runs a phase's playbooks side by side, each with its own log; fails with the first failure."""
    def run(playbook: Path) -> Recap:
        log = workspace.log(f"configure-{playbook.stem}")
        try:
            return run_playbook(playbook, workspace.inventory, extra_vars, log,
                                workspace.root / "ansible" / f"extra-vars-{playbook.stem}.yml")
        except PlaybookError as error:
            raise StageError("configure", f"{playbook.name}: {error}", log) from error

    with ThreadPoolExecutor(max_workers=len(playbooks)) as pool:
        futures = [pool.submit(run, playbook) for playbook in playbooks]
        wait(futures)
    for future in futures:
        if future.exception() is not None:
            raise future.exception()  # type: ignore[misc]
    return [future.result() for future in futures]


def build(console: Console, spec: ClusterSpec, spec_path: Path) -> Workspace:
    """Runs every stage for the spec."""
    workspace = Workspace.of(spec)
    console.say(f"aicluster build {spec.name}: target {spec.target}, Kubernetes "
                f"{spec.resolved_kubernetes_version}, spec {spec_path}")
    plan = target_plan(spec)
    variables = prepare_inputs(spec)
    with cluster_lock(workspace):
        (workspace.root / "spec.yaml").write_text(spec_path.read_text())
        local = stage_binaries(console, plan, workspace) if plan.binaries or plan.sources \
            else LocalInputs({}, {})
        outputs = stage_provision(console, plan, workspace, variables)
        stage_inventory(console, spec, outputs, workspace)
        stage_configure(console, spec, plan, workspace, local, skip_when_unchanged=True)
    return workspace


def provision(console: Console, spec: ClusterSpec) -> Workspace:
    workspace = Workspace.of(spec)
    plan = target_plan(spec)
    variables = prepare_inputs(spec)
    with cluster_lock(workspace):
        outputs = stage_provision(console, plan, workspace, variables)
        stage_inventory(console, spec, outputs, workspace)
    return workspace


def configure(console: Console, spec: ClusterSpec) -> Workspace:
    workspace = Workspace.of(spec)
    plan = target_plan(spec)
    if not workspace.inventory.is_file():
        raise StageError("configure", f"no inventory at {workspace.inventory}: "
                         "run `invoke provision` (or `invoke build`) first")
    with cluster_lock(workspace):
        local = stage_binaries(console, plan, workspace) if plan.binaries or plan.sources \
            else LocalInputs({}, {})
        stage_configure(console, spec, plan, workspace, local)
    return workspace


def destroy(console: Console, spec: ClusterSpec) -> None:
    """Stops every process the cluster started, destroys its resources, removes its files."""
    workspace = Workspace.of(spec)
    if not workspace.root.exists():
        console.say(f"nothing to destroy: {workspace.root} does not exist")
        return
    with cluster_lock(workspace):
        log = workspace.log("destroy")
        with _stage(console, "destroy", log) as line:
            stopped = processes.stop_in_order(processes.owned_pids(workspace.root))
            with log.open("a") as handle:
                handle.write(f"stopped PIDs: {stopped}\n")
            runner = TerraformRunner(target_plan(spec).module_dir, workspace.terraform_dir, log)
            if spec.target in CLOUDS and runner.has_state():
                require_cloud(spec.target)
                released = release_controller_resources(workspace.kubeconfig)
                line.notes.append(released.skipped or "released before Terraform destroy: "
                                  + (", ".join(released.stopped + released.deleted)
                                     or "nothing to release"))
            if runner.has_state():
                runner.init()
                runner.destroy()
            left = processes.owned_pids(workspace.root)
            if left:
                raise StageError("destroy", f"processes still running: {left}", log)
            line.summary = (f"stopped {len(stopped)} processes, destroyed Terraform state, "
                            f"removed {workspace.root}")
        if spec.target in CLOUDS:
            report_leftovers(console, spec)
        shutil.rmtree(workspace.root)


def report_leftovers(console: Console, spec: ClusterSpec) -> None:
    """After Terraform destroy: lists anything that still carries the cluster's tag."""
    assert spec.cloud is not None
    report = find_leftovers(leak_search(spec.target, spec.name, spec.cloud.region, spec.cloud.project_id))
    if report.unchecked:
        console.say(f"leftovers not checked: {report.unchecked}")
    elif report.leftovers:
        console.say(f"{len(report.leftovers)} resource(s) still tagged aicluster.io/cluster={spec.name}; "
                    "delete them by hand:")
        for resource in report.leftovers:
            console.say(f"  {resource}")
    else:
        console.say(f"no resource tagged aicluster.io/cluster={spec.name} is left")
