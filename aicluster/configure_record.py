"""The record of a local cluster's last successful configure, and what has changed since.

A configure of a local cluster leaves three things behind: the processes it started, the files it
wrote under the work directory and the API objects it applied (every object with a field manager
named aicluster-*). The record holds them with a digest of everything the playbooks read (extra
vars, inventory, playbooks, roles, collections, bill of materials, the package itself). `invoke
build` compares it with what is there now and runs Ansible only when something differs, so a
re-build that would change nothing costs a second instead of a full run of every role. `invoke
configure` always runs Ansible.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from aicluster import processes
from aicluster.paths import REPO_ROOT

RECORD_FILE = "configure-record.json"
# What the playbooks read from the repository.
INPUT_PATHS = ("playbooks", "roles", "collections", "aicluster", "bom.yaml", "ansible.cfg")
# Work-directory entries that change while the cluster runs, or that other stages own: logs, data,
# the validation stage's artifacts, Terraform's state, Ansible's scratch files and this record.
VOLATILE_NAMES = frozenset({"logs", "data", "etcd", "tmp", "validation", "terraform", "ansible",
                            "terraform-outputs.json", "spec.yaml", ".lock", RECORD_FILE})
# Files that the cluster's own processes keep rewriting: the DCGM exporter's scrape targets and
# the scrape configuration the operator sync derives from ServiceMonitors.
RUNTIME_FILES = frozenset({"dcgm-exporter/targets.json", "prometheus/operator-scrape-configs.yml"})
# API objects that are written all the time and that no role applies.
UNWATCHED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events"),
                                 ("coordination.k8s.io", "leases")})
FIELD_MANAGER_PREFIX = "aicluster-"
DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
REQUEST_TIMEOUT_SECONDS = 15
MAX_LISTED_DIFFERENCES = 4


@dataclass(frozen=True)
class ClusterState:
    """What a configure left behind, as seen at one moment."""

    processes: dict[str, str]
    files: dict[str, str]
    objects: dict[str, str]
    ready_nodes: int


@dataclass(frozen=True)
class ConfigureRecord:
    inputs: str
    recorded_at: str
    state: ClusterState


def inputs_digest(extra_vars: dict[str, Any], inventory: Path, repo_root: Path = REPO_ROOT) -> str:
    """A digest of everything a configure reads: its variables, inventory and the files of the
    repository that playbooks, roles and modules come from, and the Ansible that runs them."""
    digest = hashlib.sha256()
    digest.update(json.dumps(extra_vars, sort_keys=True).encode())
    digest.update(inventory.read_bytes())
    digest.update(f"{sys.version}|ansible-core {metadata.version('ansible-core')}".encode())
    for path in _input_files(repo_root):
        digest.update(str(path.relative_to(repo_root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _input_files(repo_root: Path) -> Iterator[Path]:
    for name in INPUT_PATHS:
        top = repo_root / name
        if top.is_file():
            yield top
            continue
        for directory, subdirectories, files in os.walk(top):
            subdirectories[:] = sorted(entry for entry in subdirectories if entry != "__pycache__")
            for file in sorted(files):
                if not file.endswith(".pyc"):
                    yield Path(directory) / file


def file_states(work_dir: Path) -> dict[str, str]:
    """Each file under the work directory that a configure wrote, by relative path: its size,
    modification time and mode (an edit, a rewrite or a chmod all show)."""
    states: dict[str, str] = {}
    for directory, subdirectories, files in os.walk(work_dir):
        subdirectories[:] = [entry for entry in subdirectories if entry not in VOLATILE_NAMES]
        for file in files:
            path = Path(directory) / file
            if file in VOLATILE_NAMES or file.endswith(".log"):
                continue
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            relative = str(path.relative_to(work_dir))
            if relative not in RUNTIME_FILES:
                states[relative] = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_mode:o}"
    return states


def process_states(work_dir: Path) -> dict[str, str]:
    """The cluster's live processes by PID, with their name and start time (a restart shows)."""
    states = {}
    for pid in processes.owned_pids(work_dir):
        try:
            started = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[19]
        except (OSError, IndexError):
            continue
        states[str(pid)] = f"{processes.process_name(pid)} {started}"
    return states


def object_digest(obj: dict[str, Any]) -> str:
    """A digest of an object without what the API server and controllers maintain: status,
    resourceVersion, generation and managedFields. The uid stays in, so a re-created object shows."""
    metadata = {key: value for key, value in obj.get("metadata", {}).items()
                if key not in ("managedFields", "resourceVersion", "generation")}
    content = {**{key: value for key, value in obj.items() if key != "status"}, "metadata": metadata}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def applied_by_aicluster(obj: dict[str, Any]) -> bool:
    return any(entry.get("manager", "").startswith(FIELD_MANAGER_PREFIX)
               for entry in obj.get("metadata", {}).get("managedFields") or [])


def object_key(group: str, kind: str, obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    return f"{group}/{kind}/{metadata.get('namespace', '')}/{metadata['name']}"


class ApiReader:
    """Reads every listable resource of a cluster with its admin kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import config

        self._api = config.new_client_from_config(config_file=str(kubeconfig))

    def get(self, path: str, accept: str = "application/json") -> Any:
        # Through param_serialize, as the other clients here do, so token kubeconfigs work too.
        method, url, headers = self._api.param_serialize(
            "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"])[:3]
        response = self._api.call_api(method, url, headers, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        response.read()
        return json.loads(response.data)

    def resources(self) -> Iterator[tuple[str, str, str, str]]:
        """(group, version, plural, kind) of each listable resource, at its group's preferred version."""
        for root in ("/api", "/apis"):
            for group in self.get(root, DISCOVERY).get("items", []):
                name = group["metadata"].get("name", "")
                version = group["versions"][0]
                for resource in version.get("resources", []):
                    plural = resource["resource"]
                    if "list" in resource.get("verbs", []) and (name, plural) not in UNWATCHED_RESOURCES:
                        yield name, version["version"], plural, resource["responseKind"]["kind"]

    def list(self, group: str, version: str, plural: str) -> list[dict[str, Any]]:
        path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
        return self.get(path).get("items") or []


def object_states(reader: ApiReader) -> tuple[dict[str, str], int]:
    """Every object aicluster applied, by key, with its digest; and how many nodes are Ready."""
    objects: dict[str, str] = {}
    ready_nodes = 0
    for group, version, plural, kind in reader.resources():
        for obj in reader.list(group, version, plural):
            if group == "" and plural == "nodes" and _is_ready(obj):
                ready_nodes += 1
            if applied_by_aicluster(obj):
                objects[object_key(group, kind, obj)] = object_digest(obj)
    return objects, ready_nodes


def _is_ready(node: dict[str, Any]) -> bool:
    return any(condition.get("type") == "Ready" and condition.get("status") == "True"
               for condition in (node.get("status") or {}).get("conditions") or [])


def observe(work_dir: Path, kubeconfig: Path) -> ClusterState:
    """The cluster as it is now. Raises OSError or an HTTP error when its API cannot be read."""
    objects, ready_nodes = object_states(ApiReader(kubeconfig))
    return ClusterState(process_states(work_dir), file_states(work_dir), objects, ready_nodes)


def differences(recorded: ClusterState, current: ClusterState) -> list[str]:
    """What differs between the recorded state and the current one, one phrase per kind of change."""
    found = []
    for label, before, now in (("process", recorded.processes, current.processes),
                               ("file", recorded.files, current.files),
                               ("object", recorded.objects, current.objects)):
        changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
        if changed:
            names = [_describe(label, key, before, now) for key in changed]
            hidden = len(names) - MAX_LISTED_DIFFERENCES
            more = f" and {hidden} more" if hidden > 0 else ""
            found.append(f"{len(names)} {label}{'es' if label == 'process' else 's'}: "
                         + ", ".join(names[:MAX_LISTED_DIFFERENCES]) + more)
    if current.ready_nodes != recorded.ready_nodes:
        found.append(f"{current.ready_nodes} nodes Ready, {recorded.ready_nodes} at the last configure")
    return found


def _describe(label: str, key: str, before: dict[str, str], now: dict[str, str]) -> str:
    name = (before.get(key) or now.get(key) or "").split(" ")[0] if label == "process" else key
    if key not in now:
        return f"{name} (gone)"
    if key not in before:
        return f"{name} (new)"
    return f"{name} (changed)"


def record_path(work_dir: Path) -> Path:
    return work_dir / RECORD_FILE


def forget(work_dir: Path) -> None:
    """Drops the record before a configure runs: a run that is interrupted leaves none behind."""
    record_path(work_dir).unlink(missing_ok=True)


def save(work_dir: Path, inputs: str, state: ClusterState) -> None:
    record = ConfigureRecord(inputs, time.strftime("%Y-%m-%d %H:%M:%S"), state)
    path = record_path(work_dir)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record), sort_keys=True))
    temporary.chmod(0o600)
    temporary.replace(path)


def record_configure(work_dir: Path, kubeconfig: Path, inputs: str) -> bool:
    """Records the cluster as a configure left it; False when its API cannot be read (no record)."""
    try:
        state = observe(work_dir, kubeconfig)
    except Exception:  # without a record the next build simply runs Ansible
        return False
    save(work_dir, inputs, state)
    return True


def load(work_dir: Path) -> ConfigureRecord | None:
    try:
        raw = json.loads(record_path(work_dir).read_text())
        return ConfigureRecord(raw["inputs"], raw["recorded_at"], ClusterState(**raw["state"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summarize(state: ClusterState) -> str:
    return (f"{len(state.processes)} processes, {len(state.files)} files and {len(state.objects)} API "
            f"objects as it left them, {state.ready_nodes} nodes Ready")


def unchanged_since(work_dir: Path, kubeconfig: Path,
                    inputs: str) -> tuple[ConfigureRecord | None, list[str]]:
    """The record of the last configure and what differs from it now (empty: nothing)."""
    record = load(work_dir)
    if record is None:
        return None, ["no record of a completed configure"]
    if record.inputs != inputs:
        return record, ["the inputs changed (spec, inventory, binaries, playbooks or roles)"]
    try:
        current = observe(work_dir, kubeconfig)
    except Exception as error:  # any failure to read the cluster means "run Ansible"
        cause = getattr(error, "reason", None) or error  # urllib3 wraps the socket's error
        return record, [f"the cluster's API cannot be read ({str(cause)[-120:]})"]
    return record, differences(record.state, current)
