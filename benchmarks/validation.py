"""Measures the validate stage on the small local cluster and prints each check's duration.

    .venv/bin/python benchmarks/validation.py [--profile 1.37]

Builds the small spec (skipping its own validation), runs `invoke validate --json`, prints a
table of every requirement's status, evidence source and duration, then destroys the cluster.
Target on a 2-core machine: the whole 1.37 suite in under 5 minutes.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="checklist version (default: the newest)")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="aicluster-bench-"))
    env = {**os.environ, "AICLUSTER_STATE_DIR": str(state)}
    spec = str(INVENTORIES_DIR / "local-small.yaml")
    try:
        built = subprocess.run([INVOKE, "build", "--spec", spec, "--skip-validate"], cwd=REPO, env=env,
                               capture_output=True, text=True, check=False)
        if built.returncode != 0:
            sys.exit(f"build failed:\n{built.stdout}\n{built.stderr}")
        command = [INVOKE, "validate", "--spec", spec, "--json", "--output", str(state / "validation")]
        if args.profile:
            command += ["--profile", args.profile]
        started = time.monotonic()
        completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        if completed.returncode == 2:
            sys.exit(f"validate could not run:\n{completed.stderr}")
        summary = json.loads(completed.stdout)
    finally:
        subprocess.run([INVOKE, "destroy", "--spec", spec], cwd=REPO, env=env, capture_output=True,
                       check=False)
        shutil.rmtree(state, ignore_errors=True)
    rows = [(r["id"], r["level"], r["status"], r["source"], f"{r['seconds']:.1f}")
            for r in sorted(summary["results"], key=lambda r: -r["seconds"])]
    rows.append(("whole suite (invoke validate, wall clock)", "", f"exit {completed.returncode}", "",
                 f"{elapsed:.1f}"))
    print(render_table(["REQUIREMENT", "LEVEL", "STATUS", "EVIDENCE", "SECONDS"], rows))
    print("target: whole 1.37 suite < 300 s")


if __name__ == "__main__":
    main()
