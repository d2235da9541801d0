"""Fixtures that build real local clusters in a private state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from aicluster.paths import INVENTORIES_DIR, REPO_ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")
# Processes of a local cluster built from the small example spec.
CLUSTER_PROCESSES = {
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
    "kueue", "aicluster.simulators.gpu_dra_driver", "karpenter-kwok", "jobset", "trainer-controller-manager",
    "aicluster.simulators.dcgm_exporter", "prometheus", "prometheus-adapter", "prometheus-operator",
    "aicluster.prometheus_operator_sync", "traefik",
}


def running_processes(work_dir: Path) -> set[str]:
    from aicluster.processes import owned_pids, process_name

    names = [process_name(pid) for pid in owned_pids(work_dir)]
    assert len(names) == len(set(names)), f"a process runs twice: {sorted(names)}"
    return set(names)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


class Aicluster:
    """Runs `invoke` as a user would, against a private state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.env = {**os.environ, "AICLUSTER_STATE_DIR": str(state_dir)}

    def run(self, *args: str, timeout: float = 3600) -> CliResult:
        # A first build on an empty cache compiles every pinned binary: allow for it.
        completed = subprocess.run([INVOKE, *args], cwd=REPO_ROOT, env=self.env,
                                   capture_output=True, text=True, timeout=timeout, check=False)
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([INVOKE, *args], cwd=REPO_ROOT, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def work_dir(self, cluster_name: str) -> Path:
        return self.state_dir / "clusters" / cluster_name


def write_spec(directory: Path, name: str, source: Path | None = None) -> Path:
    document = yaml.safe_load((source or INVENTORIES_DIR / "local-small.yaml").read_text())
    document["name"] = name
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="session")
def aicluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aicluster]:
    state_dir = tmp_path_factory.mktemp("state")
    tool = Aicluster(state_dir)
    yield tool
    # Never leave a cluster running, whatever a test did.
    clusters = state_dir / "clusters"
    for work_dir in clusters.iterdir() if clusters.exists() else []:
        spec = work_dir / "spec.yaml"
        if spec.exists():
            tool.run("destroy", "--spec", str(spec))


@pytest.fixture(scope="session")
def small_cluster(aicluster: Aicluster, tmp_path_factory: pytest.TempPathFactory) -> CliResult:
    spec = write_spec(tmp_path_factory.mktemp("specs"), "itest-small")
    result = aicluster.run("build", "--spec", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `destroys_cluster` run after every other test of the session."""
    items.sort(key=lambda item: item.get_closest_marker("destroys_cluster") is not None)
