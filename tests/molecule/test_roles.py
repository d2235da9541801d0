"""Every role's Molecule scenarios: `molecule test` (create, converge, idempotence, verify, destroy)
in a Debian 12 systemd container. A scenario is roles/<role>/molecule/<scenario>/molecule.yml; each
one found is a test, named <role>/<scenario>."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from aicluster.molecule_image import molecule_environment
from aicluster.paths import REPO_ROOT

OUTPUT_TAIL_LINES = 80
SCENARIOS = sorted(
    (path.parents[2].name, path.parent.name)
    for path in (REPO_ROOT / "roles").glob("*/molecule/*/molecule.yml")
)


def test_scenarios_are_found() -> None:
    assert SCENARIOS, "no roles/*/molecule/*/molecule.yml found"


@pytest.mark.molecule
@pytest.mark.parametrize(("role", "scenario"), SCENARIOS, ids=[f"{r}/{s}" for r, s in SCENARIOS])
def test_scenario(role: str, scenario: str) -> None:
    env = molecule_environment(role)
    started = time.monotonic()
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "molecule"), "test", "-s", scenario],
        cwd=REPO_ROOT / "roles" / role, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    output = completed.stdout + completed.stderr
    tail = "\n".join(output.splitlines()[-OUTPUT_TAIL_LINES:])
    assert completed.returncode == 0, (
        f"molecule test -s {scenario} in roles/{role} failed (exit {completed.returncode}, "
        f"{elapsed:.0f}s); last {OUTPUT_TAIL_LINES} lines:\n{tail}")
    print(f"{role}/{scenario}: molecule test passed in {elapsed:.0f}s")
