"""Report, artifact and PRODUCT.yaml generation, and the offline submission rules."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from aicluster.profiles import load_profile
from aicluster.validation import artifacts, product
from aicluster.validation.results import CheckResult, EvidenceStep, Source, Status, Subtest
from aicluster.validation.runner import exit_code, select

PROFILE = load_profile("1.37")
INFO = artifacts.RunInfo("abc123", "1.37", "v1.37.2", "/k", "2026-11-29T10:00:00.000Z", 12.5)


def result(requirement_id: str, status: Status, source: Source = Source.SIMULATED,
           subtests: list[Subtest] | None = None) -> CheckResult:
    requirement = next(r for r in PROFILE.requirements if r.id == requirement_id)
    test = product.DEFAULT_TESTS.get(requirement_id, f"Test_{requirement_id}")
    return CheckResult(requirement_id, test, requirement.level, status, f"{status} because", source, "impl",
                       INFO.started, 1.5, subtests or [],
                       [EvidenceStep(INFO.started, "created Job gang", "2 pods", "kind: Job\n")])


def full_run() -> list[CheckResult]:
    results = [result(r.id, Status.FAIL, Source.NONE) for r in PROFILE.requirements]
    by_id = {r.requirement_id: r for r in results}
    subtests = [Subtest("Positive", Status.PASS, "ran whole", 1.0),
                Subtest("Negative", Status.PASS, "none placed", 0.5)]
    by_id["gang_scheduling"] = result("gang_scheduling", Status.PASS, subtests=subtests)
    by_id["secure_accelerator_access"] = result("secure_accelerator_access", Status.SKIP)
    by_id["cluster_autoscaling"] = result("cluster_autoscaling", Status.NOT_APPLICABLE, Source.NONE)
    return list(by_id.values())


def test_junit_counts_and_marks_each_case() -> None:
    root = ET.fromstring(artifacts.junit_xml(full_run()))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["TestGangScheduling"].find("failure") is None
    assert cases["TestGangScheduling/Negative"] is not None
    assert cases["TestSecureAcceleratorAccess"].find("skipped") is not None
    assert int(suite.get("tests", "0")) == len(PROFILE.requirements) + 2
    assert int(suite.get("failures", "0")) == 12
    assert int(suite.get("skipped", "0")) == 2


def test_go_test_json_ends_subtests_before_their_parent() -> None:
    events = [json.loads(line) for line in artifacts.go_test_json(full_run()).splitlines()]
    finals = [(e["Test"], e["Action"]) for e in events if e["Action"] in ("pass", "fail", "skip")]
    gang = [name for name, _ in finals if name.startswith("TestGangScheduling")]
    assert gang == ["TestGangScheduling/Positive", "TestGangScheduling/Negative", "TestGangScheduling"]
    assert ("TestSecureAcceleratorAccess", "skip") in finals


def test_e2e_log_has_go_test_result_lines() -> None:
    log = artifacts.e2e_log(full_run())
    assert "--- PASS: TestGangScheduling (1.50s)" in log
    assert "    --- PASS: TestGangScheduling/Negative (0.50s)" in log
    assert "--- SKIP: TestSecureAcceleratorAccess" in log
    assert log.rstrip().endswith("FAIL")


def test_reports_list_failures_first(tmp_path: Path) -> None:
    artifacts.write_run_artifacts(tmp_path, full_run(), INFO, ["a note"])
    rows = [line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| [`")]
    assert len(rows) == len(PROFILE.requirements)
    assert "**FAIL**" in rows[0] and "| MUST |" in rows[0]
    assert "**PASS**" in rows[-1]
    assert "> a note" in (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert page.index("FAIL") < page.index(">PASS<")
    evidence = (tmp_path / "evidence" / "gang_scheduling.md").read_text()
    assert "| Evidence source | simulated |" in evidence and "created Job gang" in evidence
    # Only a passing requirement gets its own artifact for the submission to reference.
    assert (tmp_path / "evidence" / "gang_scheduling" / "junit.xml").is_file()
    assert not (tmp_path / "evidence" / "ai_inference" / "junit.xml").exists()


def test_product_never_claims_what_was_not_proven(tmp_path: Path) -> None:
    results = full_run()
    draft = product.draft_product(product.profile_entries(PROFILE), results, "1.37", "aicluster")
    entries = {item["id"]: item for items in draft["spec"].values() for item in items}
    assert set(draft["spec"]) == set(product.CATEGORIES)
    assert entries["gang_scheduling"]["status"] == "Implemented"
    assert entries["gang_scheduling"]["evidence"] == [
        "file://v1.37/aicluster/evidence/gang_scheduling/junit.xml#TestGangScheduling",
        "evidence/gang_scheduling.md"]
    assert "simulated cluster" in entries["gang_scheduling"]["notes"]
    assert entries["ai_inference"]["status"] == "Not Implemented"
    assert entries["secure_accelerator_access"]["status"] == "" and entries["secure_accelerator_access"][
        "evidence"] == []
    assert entries["cluster_autoscaling"]["status"] == "N/A" and entries["cluster_autoscaling"]["notes"]
    artifacts.write_run_artifacts(tmp_path, results, INFO, [])
    product.write_product(tmp_path / "PRODUCT.yaml", draft, "summaries used")
    reloaded = yaml.safe_load((tmp_path / "PRODUCT.yaml").read_text())
    assert reloaded == draft
    review = product.check_product(reloaded, product.profile_entries(PROFILE), tmp_path, "1.37", "aicluster")
    assert "spec.networking.ai_inference: a MUST must be Implemented, is 'Not Implemented'" in review.errors
    assert any("cluster_autoscaling: N/A on a conditional MUST" in w for w in review.warnings)
    assert "metadata.vendorName" in review.to_fill
    assert any(line.startswith("spec.security.secure_accelerator_access") for line in review.to_fill)
    assert not any("gang_scheduling" in line for line in review.errors)


def write_junit(path: Path, cases: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    markers = {"pass": "", "fail": "<failure/>", "skip": "<skipped/>"}
    body = "".join(f'<testcase name="{name}">{markers[state]}</testcase>' for name, state in cases.items())
    path.write_text(f"<testsuites><testsuite>{body}</testsuite></testsuites>")


@pytest.mark.parametrize(("cases", "reference", "problem"), [
    ({"TestGangScheduling": "pass"}, "file://v1.37/me/a/junit.xml#TestGangScheduling", None),
    ({"TestGangScheduling": "pass"}, "file://v1.37/me/a/junit.xml", None),
    ({"TestGangScheduling": "pass", "TestOther": "fail"}, "a/junit.xml#TestGangScheduling", "holds failing"),
    ({"TestGangScheduling": "skip"}, "a/junit.xml#TestGangScheduling", "was skipped"),
    ({"TestOther": "pass"}, "a/junit.xml", "has no test TestGangScheduling"),
    ({"TestGangScheduling": "pass"}, "a/missing.md", "does not exist"),
    ({"TestGangScheduling": "pass"}, "../escape.md", "leaves the product directory"),
    ({"TestGangScheduling": "pass"}, "file://v1.37/other/a/junit.xml", "leaves the product directory"),
])
def test_evidence_rules(tmp_path: Path, cases: dict[str, str], reference: str, problem: str | None) -> None:
    write_junit(tmp_path / "a" / "junit.xml", cases)
    found, _ = product.check_evidence(reference, tmp_path, "1.37", "me", "Implemented", "TestGangScheduling")
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_results_json_and_e2e_log_are_read_like_junit(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(artifacts.go_test_json(full_run()))
    (tmp_path / "e2e.log").write_text(artifacts.e2e_log(full_run()))
    for name in ("results.json", "e2e.log"):
        outcomes = product.read_test_outcomes(tmp_path / name)
        assert outcomes["TestGangScheduling"] == "pass"
        assert outcomes["TestGangScheduling/Negative"] == "pass"
        assert outcomes["TestSecureAcceleratorAccess"] == "skip"


def test_an_official_checklist_supplies_exact_descriptions(tmp_path: Path) -> None:
    checklist = tmp_path / "AIConformance-1.37.yaml"
    spec: dict[str, list[dict[str, str]]] = {}
    for requirement in PROFILE.requirements:
        spec.setdefault(requirement.category, []).append(
            {"id": requirement.id, "description": f"Official text of {requirement.id}.",
             "level": requirement.level, "status": "", "evidence": [], "notes": ""})
    checklist.write_text(yaml.safe_dump({"metadata": {"kubernetesVersion": "v1.37"}, "spec": spec}))
    entries = product.load_checklist(checklist)
    draft = product.draft_product(entries, full_run(), "1.37", "aicluster")
    gang = next(item for item in draft["spec"]["schedulingOrchestration"] if item["id"] == "gang_scheduling")
    assert gang["description"] == "Official text of gang_scheduling."
    checklist.write_text("spec: [not, a, mapping]\n")
    with pytest.raises(ValueError, match="no 'spec' mapping"):
        product.load_checklist(checklist)


def test_exit_code_counts_failed_musts_only() -> None:
    assert exit_code(full_run()) == 1
    passing = [r for r in full_run() if r.status is not Status.FAIL or r.level == "SHOULD"]
    assert exit_code(passing) == 0


def test_only_selects_known_ids_in_profile_order() -> None:
    assert [r.id for r in select(PROFILE, ["gang_scheduling"])] == ["gang_scheduling"]
    with pytest.raises(ValueError, match="dra_support"):
        select(PROFILE, ["dra_support"])
