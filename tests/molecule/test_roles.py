"""Every role's Molecule scenarios: `molecule test` (create, converge, idempotence, verify, destroy)
in a Debian 12 systemd container. A scenario is roles/<role>/molecule/<scenario>/molecule.yml; each
one found is a test, named <role>/<scenario>.

The selected scenarios run AICLUSTER_MOLECULE_PARALLEL at a time (default 2): they spend most of
their time waiting on package installs and services, and each names its containers after its role
and scenario, so they do not meet. Each test waits for its own scenario's result."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from aicluster.molecule_image import molecule_environment
from aicluster.paths import REPO_ROOT

from .conftest import SCENARIO_TIMES

OUTPUT_TAIL_LINES = 80
SCENARIOS = sorted(
    (path.parents[2].name, path.parent.name)
    for path in (REPO_ROOT / "roles").glob("*/molecule/*/molecule.yml")
)


@dataclass(frozen=True)
class ScenarioRun:
    returncode: int
    elapsed: float
    output: str


def run_scenario(role: str, scenario: str, env: dict[str, str]) -> ScenarioRun:
    started = time.monotonic()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "molecule"), "test", "-s", scenario],
        cwd=REPO_ROOT / "roles" / role, env=env, capture_output=True, text=True, check=False)
    return ScenarioRun(completed.returncode, time.monotonic() - started, completed.stdout + completed.stderr)


@pytest.fixture(scope="module")
def scenario_runs(request: pytest.FixtureRequest) -> Iterator[dict[tuple[str, str], Future[ScenarioRun]]]:
    selected = [tuple(item.callspec.params[name] for name in ("role", "scenario"))
                for item in request.session.items
                if getattr(item, "originalname", "") == "test_scenario" and hasattr(item, "callspec")]
    # One environment per role, made before any scenario starts: the first builds the image.
    environments = {role: molecule_environment(role) for role, _ in selected}
    parallel = max(1, int(os.environ.get("AICLUSTER_MOLECULE_PARALLEL", "2")))
    executor = ThreadPoolExecutor(max_workers=parallel)
    runs = {(role, scenario): executor.submit(run_scenario, role, scenario, environments[role])
            for role, scenario in selected}
    try:
        yield runs
    finally:
        # After an interrupt, scenarios that have not started never start.
        executor.shutdown(wait=True, cancel_futures=True)
        request.config.stash[SCENARIO_TIMES] = [
            f"{role}/{scenario}: exit {future.result().returncode} in {future.result().elapsed:.0f} s "
            f"({parallel} at a time)"
            for (role, scenario), future in runs.items()
            if future.done() and not future.cancelled() and future.exception() is None]


def test_scenarios_are_found() -> None:
    assert SCENARIOS, "no roles/*/molecule/*/molecule.yml found"


@pytest.mark.molecule
@pytest.mark.parametrize(("role", "scenario"), SCENARIOS, ids=[f"{r}/{s}" for r, s in SCENARIOS])
def test_scenario(role: str, scenario: str,
                  scenario_runs: dict[tuple[str, str], Future[ScenarioRun]]) -> None:
    run = scenario_runs[(role, scenario)].result()
    tail = "\n".join(run.output.splitlines()[-OUTPUT_TAIL_LINES:])
    assert run.returncode == 0, (
        f"molecule test -s {scenario} in roles/{role} failed (exit {run.returncode}, "
        f"{run.elapsed:.0f}s); last {OUTPUT_TAIL_LINES} lines:\n{tail}")
    print(f"{role}/{scenario}: molecule test passed in {run.elapsed:.0f}s")
