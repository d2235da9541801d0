"""The draft CNCF PRODUCT.yaml of a run, and an offline check of it against the submission rules."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aicluster.profiles import Profile
from aicluster.validation.results import CheckResult, Source, Status

CATEGORIES = (
    "accelerators",
    "networking",
    "schedulingOrchestration",
    "observability",
    "security",
    "operator",
)
STATUSES = ("Implemented", "Not Implemented", "Partially Implemented", "N/A")
# The CNCF validator's default test for a requirement whose evidence names no test.
DEFAULT_TESTS = {
    "secure_accelerator_access": "TestSecureAcceleratorAccess",
    "gang_scheduling": "TestGangScheduling",
    "cluster_autoscaling": "TestAcceleratorClusterAutoscaling",
}
# Requirements on which the submission rules accept N/A for a MUST (with a warning).
CONDITIONAL_MUSTS = {"cluster_autoscaling"}
METADATA_TO_FILL = {
    "platformName": "[your platform's name]",
    "platformVersion": "[your platform's version]",
    "vendorName": "[your company, exactly as in the CNCF landscape's members list]",
    "websiteUrl": "[https://... your product page]",
    "repoUrl": "[https://... your source repository, if open source]",
    "documentationUrl": "[https://... your documentation]",
    "productLogoUrl": "[https://... your logo, SVG]",
    "description": "[one sentence describing your platform]",
    "contactEmailAddress": "[an address CNCF can reach]",
    "k8sConformanceUrl": "[https://github.com/cncf/k8s-conformance/tree/master/vX.Y/<product>]",
}
PLACEHOLDER = re.compile(r"^\[.*\]$")


@dataclass(frozen=True)
class TemplateEntry:
    id: str
    category: str
    level: str
    description: str


def load_checklist(path: Path) -> list[TemplateEntry]:
    """The requirement entries of an official docs/AIConformance-X.Y.yaml checklist."""
    document = yaml.safe_load(path.read_text())
    spec = (document or {}).get("spec")
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: no 'spec' mapping; is this a docs/AIConformance-X.Y.yaml checklist?")
    entries = []
    for category, items in spec.items():
        for index, item in enumerate(items or []):
            if not isinstance(item, dict) or not item.get("id"):
                raise ValueError(f"{path}: spec.{category}[{index}] has no id")
            entries.append(
                TemplateEntry(
                    item["id"], category, str(item.get("level", "")), str(item.get("description", "")).strip()
                )
            )
    return entries


def profile_entries(profile: Profile) -> list[TemplateEntry]:
    return [TemplateEntry(r.id, r.category, r.level, r.summary.strip()) for r in profile.requirements]


def requirement_entry(
    entry: TemplateEntry, result: CheckResult | None, version: str, product_dir: str
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id, "description": entry.description, "level": entry.level}
    if result is None:
        item.update(status="", evidence=[], notes="Not tested in this run.")
        return item
    evidence_page = f"evidence/{entry.id}.md"
    note = f"aicluster validation: {result.reason}"
    if result.source is Source.SIMULATED:
        note += (
            " Evidence from a simulated cluster (KWOK nodes and simulated devices): it shows the "
            "Kubernetes control-plane path, not the hardware; re-run on real accelerators to submit."
        )
    if result.status is Status.PASS:
        item.update(
            status="Implemented",
            evidence=[
                f"file://v{version}/{product_dir}/evidence/{entry.id}/junit.xml#{result.test_name}",
                evidence_page,
            ],
        )
    elif result.status is Status.FAIL:
        item.update(status="Not Implemented", evidence=[evidence_page])
    elif result.status is Status.NOT_APPLICABLE:
        item.update(status="N/A", evidence=[evidence_page])
    else:
        # Skipped: untested. The submitter decides, with evidence from a run that could test it.
        item.update(status="", evidence=[])
    item["notes"] = note
    return item


def draft_product(
    entries: list[TemplateEntry], results: list[CheckResult], version: str, product_dir: str
) -> dict[str, Any]:
    by_id = {r.requirement_id: r for r in results}
    spec: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        spec.setdefault(entry.category, []).append(
            requirement_entry(entry, by_id.get(entry.id), version, product_dir)
        )
    return {"metadata": {"kubernetesVersion": f"v{version}", **METADATA_TO_FILL}, "spec": spec}


@dataclass
class SelfCheck:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    to_fill: list[str] = field(default_factory=list)


def check_product(
    product: dict[str, Any], entries: list[TemplateEntry], product_root: Path, version: str, product_dir: str
) -> SelfCheck:
    """The CNCF validator's rules, offline: what would be rejected, warned about, or is still missing."""
    report = SelfCheck()
    metadata = product.get("metadata") or {}
    for key in METADATA_TO_FILL:
        value = metadata.get(key)
        if key == "repoUrl" and (value is None or PLACEHOLDER.match(str(value))):
            report.to_fill.append("metadata.repoUrl (optional; required in the PR checklist if open source)")
        elif not isinstance(value, str) or not value.strip() or PLACEHOLDER.match(value):
            report.to_fill.append(f"metadata.{key}")
    spec = product.get("spec") or {}
    for entry in entries:
        items = [item for item in spec.get(entry.category) or [] if item.get("id") == entry.id]
        where = f"spec.{entry.category}.{entry.id}"
        if not items:
            report.errors.append(f"{where}: missing")
            continue
        item = items[0]
        status = item.get("status", "")
        evidence = item.get("evidence") or []
        if entry.level == "SHOULD" and status == "" and not evidence:
            continue
        if status not in STATUSES:
            if status == "":
                report.to_fill.append(f"{where}: status and evidence (this run could not prove this MUST)")
            else:
                report.errors.append(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
            continue
        if entry.level == "MUST" and status != "Implemented":
            if status == "N/A" and entry.id in CONDITIONAL_MUSTS:
                report.warnings.append(f"{where}: N/A on a conditional MUST (accepted with a warning)")
            else:
                report.errors.append(f"{where}: a MUST must be Implemented, is {status!r}")
        if status == "N/A" and not str(item.get("notes") or "").strip():
            report.errors.append(f"{where}: N/A needs notes")
        referenced = False
        for reference in evidence:
            problem, tested = check_evidence(
                str(reference), product_root, version, product_dir, status, DEFAULT_TESTS.get(entry.id)
            )
            referenced = referenced or tested
            if problem:
                report.errors.append(f"{where}: {problem}")
        if status == "Implemented" and entry.id in DEFAULT_TESTS and not referenced:
            report.warnings.append(f"{where}: Implemented without an automated-test artifact")
    return report


def check_evidence(
    reference: str, product_root: Path, version: str, product_dir: str, status: str, default_test: str | None
) -> tuple[str | None, bool]:
    """One evidence entry: (problem or None, whether it references a test artifact)."""
    if reference.startswith(("http://", "https://")):
        return None, False  # reachability is checked online by the CNCF validator
    path_text, _, fragment = reference.removeprefix("file://").partition("#")
    path_text = path_text.removeprefix(f"v{version}/{product_dir}/")
    if path_text.startswith("/") or ".." in Path(path_text).parts or re.match(r"^v\d+\.\d+/", path_text):
        return f"evidence {reference} leaves the product directory", False
    path = product_root / path_text
    if not path.is_file():
        return f"evidence file {path_text} does not exist", False
    if path.name not in ("junit.xml", "results.json", "e2e.log"):
        return None, False
    outcomes = read_test_outcomes(path)
    failing = sorted(name for name, outcome in outcomes.items() if outcome == "fail")
    if failing:
        return f"{path_text} holds failing tests ({', '.join(failing[:5])})", True
    test = fragment or default_test
    if test is None:
        return None, True
    related = {
        name: outcome for name, outcome in outcomes.items() if name == test or name.startswith(test + "/")
    }
    if not related:
        return f"{path_text} has no test {test}", True
    if status == "Implemented" and "skip" in related.values():
        return f"{path_text}: test {test} was skipped, yet the requirement is Implemented", True
    return None, True


def read_test_outcomes(path: Path) -> dict[str, str]:
    """Test name -> pass, fail or skip, from a junit.xml, go test -json or go test -v artifact."""
    outcomes: dict[str, str] = {}
    if path.name == "junit.xml":
        for case in ET.parse(path).iter("testcase"):
            name = case.get("name", "")
            outcomes[name] = (
                "fail"
                if case.find("failure") is not None or case.find("error") is not None
                else "skip"
                if case.find("skipped") is not None
                else "pass"
            )
    elif path.name == "results.json":
        import json

        for line in path.read_text().splitlines():
            event = json.loads(line) if line.strip() else {}
            if event.get("Test") and event.get("Action") in ("pass", "fail", "skip"):
                outcomes[event["Test"]] = event["Action"]
    else:
        for match in re.finditer(r"^\s*--- (PASS|FAIL|SKIP): (\S+)", path.read_text(), re.MULTILINE):
            outcomes[match.group(2)] = match.group(1).lower()
    return outcomes


def write_product(path: Path, product: dict[str, Any], warning: str | None) -> None:
    header = (
        "# Draft PRODUCT.yaml written by `invoke validate`. Fill in the metadata, review every\n"
        "# requirement's notes, and copy this folder to v<version>/<product>/ of cncf/k8s-ai-conformance.\n"
    )
    if warning:
        header += f"# {warning}\n"
    path.write_text(header + yaml.safe_dump(product, sort_keys=False, width=110, allow_unicode=True))
