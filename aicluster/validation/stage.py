"""The validate stage: run a profile's checks, write the artifacts and the draft PRODUCT.yaml."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from aicluster.console import Console
from aicluster.errors import AiclusterError
from aicluster.profiles import load_profile, profile_versions
from aicluster.validation import artifacts, product
from aicluster.validation.cluster import Cluster, ValidationOptions, new_run_id
from aicluster.validation.results import CheckResult, Source, Status, now
from aicluster.validation.runner import exit_code, run_validation, select

OWNED_OUTPUTS = (
    "junit.xml",
    "results.json",
    "e2e.log",
    "evidence",
    "report.md",
    "report.html",
    "PRODUCT.yaml",
    "summary.json",
)


@dataclass(frozen=True)
class ValidateRequest:
    kubeconfig: Path
    output: Path
    profile: str | None = None
    only: list[str] | None = None
    checklist: Path | None = None
    product_dir: str = "aicluster"
    json_summary: bool = False
    options: ValidationOptions = field(default_factory=ValidationOptions)


@dataclass(frozen=True)
class ValidateSummary:
    exit_code: int
    profile: str
    failed_musts: list[str]


def progress_line(result: CheckResult) -> str:
    return (
        f"  {result.status!s:<5} {result.requirement_id:<28} {result.level:<6} {result.source!s:<9} "
        f"{result.seconds:6.1f}s  {result.reason}"
    )


def simulated_notes(results: list[CheckResult]) -> list[str]:
    notes = []
    hardware_skips = [r.requirement_id for r in results if r.level == "MUST" and r.status is Status.SKIP]
    if any(r.source is Source.SIMULATED for r in results):
        notes.append(
            "Results marked 'simulated' come from simulated nodes and devices: they prove the "
            "Kubernetes API and control-plane path, not the hardware."
        )
    if hardware_skips:
        notes.append(
            "Not proven by this run (they need a run on real accelerators): "
            + ", ".join(hardware_skips)
            + "."
        )
    return notes


def clear_outputs(output: Path) -> None:
    for name in OWNED_OUTPUTS:
        path = output / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def validate(console: Console, request: ValidateRequest) -> ValidateSummary:
    version = request.profile or profile_versions()[-1]
    try:
        profile = load_profile(version)
        requirements = select(profile, request.only)
        entries = (
            product.load_checklist(request.checklist)
            if request.checklist
            else product.profile_entries(profile)
        )
    except (KeyError, ValueError, OSError) as error:
        raise AiclusterError(str(error).strip("'\"")) from error
    template_warning = None
    if request.checklist is None:
        template_warning = (
            "descriptions are aicluster's summaries; pass --checklist "
            f"docs/AIConformance-{version}.yaml for the official text"
        )
    elif {e.id for e in entries} != {r.id for r in profile.requirements}:
        raise AiclusterError(
            f"checklist {request.checklist} lists other requirement ids than profile "
            f"{version}: is it the {version} checklist?"
        )
    cluster = Cluster(request.kubeconfig)
    server_version = cluster.server_version()
    run_id = new_run_id()
    console.say(
        f"aicluster validate: profile {version} ({len(requirements)} requirements), "
        f"Kubernetes {server_version}, run {run_id}"
    )
    started, clock = now(), time.monotonic()
    results = run_validation(
        cluster, requirements, request.options, run_id, lambda result: console.say(progress_line(result))
    )
    info = artifacts.RunInfo(
        run_id, version, server_version, str(request.kubeconfig), started, time.monotonic() - clock
    )
    notes = simulated_notes(results)
    clear_outputs(request.output)
    artifacts.write_run_artifacts(request.output, results, info, notes)
    draft = product.draft_product(entries, results, version, request.product_dir)
    product.write_product(request.output / "PRODUCT.yaml", draft, template_warning)
    review = product.check_product(draft, entries, request.output, version, request.product_dir)
    code = exit_code(results)
    counts = {status: sum(1 for r in results if r.status is status) for status in Status}
    console.say(
        f"validated in {info.seconds:.0f}s: "
        + ", ".join(f"{counts[s]} {s}" for s in Status)
        + f"; artifacts in {request.output}"
    )
    for note in notes:
        console.say(f"note: {note}")
    if template_warning:
        console.say(f"warning: PRODUCT.yaml {template_warning}")
    console.say(f"PRODUCT.yaml self-check: {len(review.errors)} errors, {len(review.warnings)} warnings")
    for line in review.errors:
        console.say(f"  error: {line}")
    for line in review.warnings:
        console.say(f"  warning: {line}")
    if review.to_fill:
        console.say("  still to fill in before a submission:")
        for line in review.to_fill:
            console.say(f"    - {line}")
    if request.json_summary:
        print(
            json.dumps(
                {
                    "exit_code": code,
                    "profile": version,
                    "run_id": run_id,
                    "output": str(request.output),
                    "counts": {str(s): counts[s] for s in Status},
                    "results": [r.to_json() for r in results],
                    "product_check": {
                        "errors": review.errors,
                        "warnings": review.warnings,
                        "to_fill": review.to_fill,
                    },
                },
                indent=2,
            )
        )
    failed = [r.requirement_id for r in results if r.level == "MUST" and r.status is Status.FAIL]
    return ValidateSummary(code, version, failed)
