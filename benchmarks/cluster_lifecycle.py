"""Measures the local cluster's lifecycle and prints a table.

    .venv/bin/python benchmarks/cluster_lifecycle.py [--cold] [--skip-large]

cold build (only with --cold: an empty cache directory of its own, so it includes module
downloads and Go builds; the user's cache is left alone), warm build and re-build of the small
spec, its destroy, and the large spec (1,000 simulated GPU nodes) up to every node Ready. The
builds stop after configure (--skip-validate): benchmarks/validation.py measures the validate
stage. Targets on a 2-core machine: warm build < 60 s, 1,000 GPU nodes Ready < 180 s, re-build
< 1/4 of the first build. A re-build runs no playbook when nothing differs from the record of the
last configure; `configure` runs every playbook again, and is measured too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aicluster.console import render_table  # noqa: E402
from aicluster.paths import INVENTORIES_DIR  # noqa: E402

INVOKE = str(Path(sys.executable).parent / "invoke")


def timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    completed = subprocess.run([INVOKE, *args], cwd=REPO, env=env, capture_output=True, text=True,
                               check=False)
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        sys.exit(f"invoke {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty the binary cache first")
    parser.add_argument("--skip-large", action="store_true", help="skip the 1,000-node spec")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="aicluster-bench-"))
    env = {**os.environ, "AICLUSTER_STATE_DIR": str(state)}
    small = str(INVENTORIES_DIR / "local-small.yaml")
    large = str(INVENTORIES_DIR / "local-large.yaml")
    rows: list[tuple[str, str, str]] = []
    try:
        if args.cold:
            cold_env = {**env, "AICLUSTER_CACHE_DIR": str(state / "cold-cache")}
            cold = timed(cold_env, "build", "--spec", small, "--skip-validate")
            rows.append(("cold build, small spec (downloads and Go builds included)", f"{cold:.1f}", "-"))
            timed(cold_env, "destroy", "--spec", small)
            cold_first = cold
        else:
            cold_first = None
        first = timed(env, "build", "--spec", small, "--skip-validate")
        rows.append(("warm build, small spec", f"{first:.1f}", "< 60"))
        again = timed(env, "build", "--spec", small, "--skip-validate")
        share = f"{again / first:.0%} of the warm build" + (
            f", {again / cold_first:.1%} of the cold build" if cold_first else "")
        rows.append((f"re-build, small spec (no changes): {share}", f"{again:.1f}",
                     "< 1/4 of the first build"))
        reconfigure = timed(env, "configure", "--spec", small)
        rows.append(("configure, small spec (every playbook again, no changes)", f"{reconfigure:.1f}", "-"))
        gone = timed(env, "destroy", "--spec", small)
        rows.append(("destroy, small spec", f"{gone:.1f}", "-"))
        if not args.skip_large:
            big = timed(env, "build", "--spec", large, "--skip-validate")
            rows.append(("build, large spec: 1,000 GPU nodes Ready", f"{big:.1f}", "< 180"))
            big_again = timed(env, "build", "--spec", large, "--skip-validate")
            rows.append(("re-build, large spec (no changes)", f"{big_again:.1f}", "-"))
            big_gone = timed(env, "destroy", "--spec", large)
            rows.append(("destroy, large spec", f"{big_gone:.1f}", "-"))
    finally:
        for spec in (small, large):
            subprocess.run([INVOKE, "destroy", "--spec", spec], cwd=REPO, env=env,
                           capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    print(render_table(["MEASUREMENT", "SECONDS", "TARGET (s)"], rows))


if __name__ == "__main__":
    main()
