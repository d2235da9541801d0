"""Writes a run's results as junit.xml, results.json (go test -json), e2e.log, evidence and reports."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aicluster.validation.results import CheckResult, Status

GO_ACTION = {Status.PASS: "pass", Status.FAIL: "fail", Status.SKIP: "skip", Status.NOT_APPLICABLE: "skip"}
GO_LINE = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.SKIP: "SKIP", Status.NOT_APPLICABLE: "SKIP"}
STATUS_ORDER = {Status.FAIL: 0, Status.SKIP: 1, Status.NOT_APPLICABLE: 2, Status.PASS: 3}
PACKAGE = "aicluster/validation"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    profile: str
    server_version: str
    kubeconfig: str
    started: str
    seconds: float


def subtest_name(result: CheckResult, name: str) -> str:
    return f"{result.test_name}/{name}"


def junit_xml(results: Iterable[CheckResult]) -> str:
    results = list(results)
    suite = ET.Element("testsuite", name=PACKAGE, tests="0", failures="0", skipped="0", time="0")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    total = 0.0
    for result in results:
        cases = [(result.test_name, result.status, result.reason, result.seconds)]
        cases += [(subtest_name(result, s.name), s.status, s.reason, s.seconds) for s in result.subtests]
        for name, status, reason, seconds in cases:
            case = ET.SubElement(suite, "testcase", classname=PACKAGE, name=name, time=f"{seconds:.3f}")
            counts["tests"] += 1
            if status is Status.FAIL:
                ET.SubElement(case, "failure", message=reason[:500]).text = reason
                counts["failures"] += 1
            elif status in (Status.SKIP, Status.NOT_APPLICABLE):
                ET.SubElement(case, "skipped", message=f"{status}: {reason}"[:500])
                counts["skipped"] += 1
            else:
                ET.SubElement(case, "system-out").text = f"{result.source} evidence: {reason}"
        total += result.seconds
    suite.set("tests", str(counts["tests"]))
    suite.set("failures", str(counts["failures"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{total:.3f}")
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def go_test_json(results: Iterable[CheckResult]) -> str:
    """The `go test -json` event stream: run, output and a final action per test and subtest."""
    events = []
    for result in results:
        tests = [(result.test_name, result.status, result.reason, result.seconds)]
        tests += [(subtest_name(result, s.name), s.status, s.reason, s.seconds) for s in result.subtests]
        for name, _, _, _ in tests:
            events.append({"Time": result.started, "Action": "run", "Package": PACKAGE, "Test": name})
        # Subtests end before their parent, as go test reports them.
        for name, status, reason, seconds in [*tests[1:], tests[0]]:
            events.append(
                {
                    "Time": result.started,
                    "Action": "output",
                    "Package": PACKAGE,
                    "Test": name,
                    "Output": f"    --- {GO_LINE[status]}: {name} ({seconds:.2f}s)\n        {reason}\n",
                }
            )
            events.append(
                {
                    "Time": result.started,
                    "Action": GO_ACTION[status],
                    "Package": PACKAGE,
                    "Test": name,
                    "Elapsed": round(seconds, 3),
                }
            )
    return "".join(json.dumps(event) + "\n" for event in events)


def e2e_log(results: Iterable[CheckResult]) -> str:
    """`go test -v` lines: === RUN, then --- PASS/FAIL/SKIP per test with its subtests indented."""
    lines = []
    for result in results:
        lines.append(f"=== RUN   {result.test_name}")
        for subtest in result.subtests:
            lines.append(f"=== RUN   {subtest_name(result, subtest.name)}")
        lines.append(f"--- {GO_LINE[result.status]}: {result.test_name} ({result.seconds:.2f}s)")
        lines.append(
            f"    {result.requirement_id} [{result.level}, {result.source} evidence]: {result.reason}"
        )
        for subtest in result.subtests:
            lines.append(
                f"    --- {GO_LINE[subtest.status]}: {subtest_name(result, subtest.name)} "
                f"({subtest.seconds:.2f}s)"
            )
            lines.append(f"        {subtest.reason}")
    failed = any(r.status is Status.FAIL for r in results)
    lines.append("FAIL" if failed else "PASS")
    return "\n".join(lines) + "\n"


def evidence_markdown(result: CheckResult, info: RunInfo) -> str:
    lines = [
        f"# {result.requirement_id}: {result.status}",
        "",
        "| | |",
        "|---|---|",
        f"| Level | {result.level} |",
        f"| Status | **{result.status}** |",
        f"| Reason | {escape_cell(result.reason)} |",
        f"| Evidence source | {result.source} |",
        f"| Implementation | {escape_cell(result.implementation or 'none detected')} |",
        f"| Test | `{result.test_name}` |",
        f"| Started | {result.started} |",
        f"| Duration | {result.seconds:.1f}s |",
        f"| Cluster | Kubernetes {info.server_version}, run {info.run_id}, profile {info.profile} |",
        "",
    ]
    if result.subtests:
        lines += ["## Subtests", "", "| Subtest | Status | Duration | Result |", "|---|---|---|---|"]
        lines += [
            f"| `{s.name}` | {s.status} | {s.seconds:.1f}s | {escape_cell(s.reason)} |"
            for s in result.subtests
        ]
        lines.append("")
    lines += ["## Steps", ""]
    for index, step in enumerate(result.evidence, 1):
        lines.append(
            f"{index}. `{step.time}` {step.action}" + (f": {step.observed}" if step.observed else "")
        )
        if step.detail:
            lines += [
                "",
                "   ```yaml",
                *("   " + line for line in step.detail.rstrip().splitlines()),
                "   ```",
                "",
            ]
    if not result.evidence:
        lines.append("No step ran.")
    return "\n".join(lines) + "\n"


def escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def ordered(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Failures first, then skips, N/A and passes; MUSTs before SHOULDs within each."""
    return sorted(results, key=lambda r: (STATUS_ORDER[r.status], r.level != "MUST", r.requirement_id))


def report_markdown(results: list[CheckResult], info: RunInfo, notes: list[str]) -> str:
    counts = {status: sum(1 for r in results if r.status is status) for status in Status}
    lines = [
        f"# AI conformance validation: profile {info.profile}",
        "",
        f"Kubernetes {info.server_version}; run `{info.run_id}` started {info.started}, "
        f"took {info.seconds:.0f}s. " + ", ".join(f"{counts[s]} {s}" for s in Status) + ".",
        "",
        *[f"> {note}\n" for note in notes],
        "| Requirement | Level | Status | Evidence | Duration | Reason |",
        "|---|---|---|---|---|---|",
    ]
    for result in ordered(results):
        lines.append(
            f"| [`{result.requirement_id}`](evidence/{result.requirement_id}.md) | {result.level} | "
            f"**{result.status}** | {result.source} | {result.seconds:.1f}s | "
            f"{escape_cell(result.reason)} |"
        )
    return "\n".join(lines) + "\n"


def report_html(results: list[CheckResult], info: RunInfo, notes: list[str]) -> str:
    colours = {
        Status.PASS: "#1a7f37",
        Status.FAIL: "#cf222e",
        Status.SKIP: "#9a6700",
        Status.NOT_APPLICABLE: "#57606a",
    }
    rows = "\n".join(
        f"<tr><td><a href='evidence/{r.requirement_id}.md'><code>{r.requirement_id}</code></a></td>"
        f"<td>{r.level}</td><td style='color:{colours[r.status]};font-weight:bold'>{r.status}</td>"
        f"<td>{r.source}</td><td>{r.seconds:.1f}s</td><td>{html.escape(r.reason)}</td></tr>"
        for r in ordered(results)
    )
    note_html = "".join(f"<p class='note'>{html.escape(note)}</p>" for note in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>AI conformance validation {html.escape(info.profile)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #d0d7de; padding: 6px 10px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
.note {{ background: #fff8c5; padding: 8px; border-left: 4px solid #9a6700; }}
</style></head><body>
<h1>AI conformance validation: profile {html.escape(info.profile)}</h1>
<p>Kubernetes {html.escape(info.server_version)}; run <code>{info.run_id}</code> started {info.started},
took {info.seconds:.0f}s.</p>
{note_html}
<table><thead><tr><th>Requirement</th><th>Level</th><th>Status</th><th>Evidence</th><th>Duration</th>
<th>Reason</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


def write_run_artifacts(output: Path, results: list[CheckResult], info: RunInfo, notes: list[str]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "junit.xml").write_text(junit_xml(results))
    (output / "results.json").write_text(go_test_json(results))
    (output / "e2e.log").write_text(e2e_log(results))
    evidence = output / "evidence"
    evidence.mkdir(exist_ok=True)
    for result in results:
        (evidence / f"{result.requirement_id}.md").write_text(evidence_markdown(result, info))
        if result.status is Status.PASS:
            # A passing requirement's own artifact: the submission references it, and it holds no
            # failing or skipped test of another requirement (which the CNCF validator would reject).
            own = evidence / result.requirement_id
            own.mkdir(exist_ok=True)
            (own / "junit.xml").write_text(junit_xml([result]))
    (output / "report.md").write_text(report_markdown(results, info, notes))
    (output / "report.html").write_text(report_html(results, info, notes))
    summary = {
        "run_id": info.run_id,
        "profile": info.profile,
        "server_version": info.server_version,
        "started": info.started,
        "seconds": round(info.seconds, 1),
        "results": [r.to_json() for r in results],
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
