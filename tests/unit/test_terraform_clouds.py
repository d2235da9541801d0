"""Every cloud root module (terraform/<cloud>/ other than local and onprem) follows the inputs
contract (terraform/INPUTS.md) and the outputs contract (terraform/OUTPUTS.md), loads without
errors in Terraform's configuration loader, and documents itself. The expected variables, types
and outputs are read from the two contract pages, so a change of contract reaches every module;
the last tests break a copy of a module and check that these checks notice."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from aicluster.iac_checks import (
    checkov_findings,
    load_tree,
    module_dirs,
    module_interface,
    top_level_blocks,
)
from aicluster.paths import TERRAFORM_DIR

NOT_CLOUDS = {"local", "onprem"}
CLOUDS = sorted(path.name for path in TERRAFORM_DIR.iterdir()
                if path.is_dir() and path.name not in NOT_CLOUDS and any(path.glob("*.tf")))
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")

################################################################################
# The contract pages
################################################################################


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _tables(text: str) -> dict[str, list[list[list[str]]]]:
    """Tables of a page by the `##` section they are in (rows of cells, header first)."""
    sections: dict[str, list[list[list[str]]]] = {}
    section = ""
    previous_was_row = False
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        is_row = line.lstrip().startswith("|")
        if is_row and not re.fullmatch(r"\|[\s:|-]+\|", line.strip()):
            if not previous_was_row:
                sections.setdefault(section, []).append([])
            sections[section][-1].append(_cells(line))
        previous_was_row = is_row
    return sections


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char in "({[" and 1) or (-1 if char in ")}]" else 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [part.strip() for part in [*parts, current] if part.strip()]


def _object_literal(meaning: str) -> Any:
    """`{count = 1 or 3, machine_type = string}` (or `{key, value, effect}`) as a cty type."""
    body = re.search(r"`\{(.*?)\}`", meaning)
    assert body is not None, f"no object shape in {meaning!r}"
    attributes = {}
    for part in _split_top(body[1].replace("\\|", "|")):
        name, _, kind = (piece.strip() for piece in part.partition("="))
        if not kind or '"' in kind:
            attributes[name] = "string"
        elif re.fullmatch(r"[0-9]+( or [0-9]+)*", kind):
            attributes[name] = "number"
        else:
            attributes[name] = contract_type(kind, "")
    return ["object", attributes]


def contract_type(text: str, meaning: str, fields: Any = None) -> Any:
    """The cty type (Terraform's JSON form) of a contract page's Type cell."""
    text = text.replace("`", "").strip()
    text = re.sub(r"\s+or null$", "", text)
    if text in ("string", "number", "bool"):
        return text
    if text == "object":
        return _object_literal(meaning)
    if text == "map(object)":
        assert fields is not None, "map(object) needs a field table"
        return ["map", fields]
    if text == "list(object)":
        return ["list", _object_literal(meaning)]
    collection = re.fullmatch(r"(map|list|set)\((.+)\)", text)
    assert collection is not None, f"unknown contract type {text!r}"
    return [collection[1], contract_type(collection[2], meaning)]


def contract_inputs(cloud: str) -> dict[str, Any]:
    sections = _tables((TERRAFORM_DIR / "INPUTS.md").read_text())
    variables_table, fields_table = sections["Every cloud"][:2]
    fields = {}
    for row in fields_table[1:]:
        for name in _names(row[0]):
            fields[name] = contract_type(row[1], row[2])
    inputs = {}
    for row in variables_table[1:]:
        for name in _names(row[0]):
            inputs[name] = contract_type(row[1], row[2], ["object", fields])
    for row in sections["Cloud-specific"][0][1:]:
        if _names(row[0]) == [cloud]:
            for name in _names(row[1]):
                inputs[name] = contract_type(row[2], row[3])
    return inputs


def contract_outputs() -> list[str]:
    """Outputs every target must produce (rows marked optional are not required)."""
    table = _tables((TERRAFORM_DIR / "OUTPUTS.md").read_text())[""][0]
    return [name for row in table[1:] if "optional" not in (row[1] + row[2]).lower()
            for name in _names(row[0])]


################################################################################
# Comparing types
################################################################################


def _render(kind: Any) -> str:
    if isinstance(kind, str):
        return kind
    return "object" if kind[0] == "object" else f"{kind[0]}({_render(kind[1])})"


def type_problems(expected: Any, declared: Any, constraint: Any, where: str) -> list[str]:
    """Differences between the contract's type and a declared one. Attributes beyond the
    contract are allowed only as optional attributes (the provision stage never sets them)."""
    if isinstance(expected, str) or isinstance(declared, str):
        return [] if expected == declared else [f"{where}: contract {_render(expected)}, "
                                                f"declared {_render(declared)}"]
    if expected[0] != declared[0]:
        return [f"{where}: contract {_render(expected)}, declared {_render(declared)}"]
    if expected[0] != "object":
        return type_problems(expected[1], declared[1], constraint[1], f"{where}[*]")
    optional = set(constraint[2]) if len(constraint) > 2 else set()
    problems = [f"{where}.{name}: missing" for name in expected[1] if name not in declared[1]]
    problems += [f"{where}.{name}: not in the contract and not optional"
                 for name in declared[1] if name not in expected[1] and name not in optional]
    for name in sorted(set(expected[1]) & set(declared[1])):
        problems += type_problems(expected[1][name], declared[1][name], constraint[1][name],
                                  f"{where}.{name}")
    return problems


def interface_problems(module: Path, cloud: str) -> list[str]:
    interface = module_interface(module)
    problems = []
    for name, expected in contract_inputs(cloud).items():
        if name not in interface.variables:
            problems.append(f"variable {name}: missing")
            continue
        declared = interface.variables[name]
        problems += type_problems(expected, declared["type"], declared["constraint"], f"variable {name}")
    problems += [f"output {name}: missing" for name in contract_outputs() if name not in interface.outputs]
    return problems


################################################################################
# The modules
################################################################################


def test_contract_pages_parse() -> None:
    inputs = contract_inputs("gcp")
    assert inputs["control_plane"] == ["object", {"count": "number", "machine_type": "string",
                                                  "disk_size_gb": "number"}]
    pool = inputs["node_pools"][1][1]
    assert pool["capacity_reservation"] == ["object", {"type": "string", "id": "string"}]
    assert pool["taints"] == ["list", ["object", {"key": "string", "value": "string", "effect": "string"}]]
    assert {"min_size", "max_size", "desired_size", "high_speed_networking"} <= set(pool)
    assert inputs["project_id"] == "string" and "resource_group_name" not in inputs
    assert "nodes" in contract_outputs() and "node_bootstrap" not in contract_outputs()


@pytest.mark.skipif(not CLOUDS, reason="no cloud root module under terraform/")
def test_the_aws_module_is_among_the_cloud_modules() -> None:
    assert "aws" in CLOUDS


@pytest.mark.parametrize("cloud", CLOUDS)
def test_module_loads_without_errors(cloud: str) -> None:
    assert load_tree(TERRAFORM_DIR / cloud) == []


@pytest.mark.parametrize("cloud", CLOUDS)
def test_module_follows_the_inputs_and_outputs_contracts(cloud: str) -> None:
    assert interface_problems(TERRAFORM_DIR / cloud, cloud) == []


@pytest.mark.parametrize("target", [*CLOUDS, *sorted(NOT_CLOUDS)])
def test_every_module_has_the_standard_files_and_a_readme(target: str) -> None:
    for module in module_dirs(TERRAFORM_DIR / target):
        missing = [name for name in MODULE_FILES if not (module / name).is_file()]
        assert missing == [], f"{module.relative_to(TERRAFORM_DIR)} lacks {missing}"
        assert len((module / "README.md").read_text().split()) > 30, f"{module} README is a stub"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_submodule_sources_are_relative(cloud: str) -> None:
    for path in (TERRAFORM_DIR / cloud).rglob("*.tf"):
        text = path.read_text()
        for header, start, end in top_level_blocks(text):
            if header.startswith("module "):
                source = re.search(r'^\s*source\s*=\s*"([^"]+)"', text[start:end], re.M)
                assert source is not None and source[1].startswith("./"), f"{path}: {header}"


################################################################################
# The checks notice a broken module
################################################################################


@pytest.fixture
def aws_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "aws"
    shutil.copytree(TERRAFORM_DIR / "aws", copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_wrong_variable_type_or_missing_output_breaks_the_contract(aws_copy: Path) -> None:
    _edit(aws_copy / "variables.tf", "    max_size             = number\n",
          "    max_size             = string\n")
    _edit(aws_copy / "variables.tf", '  type        = list(string)\n\n  validation {\n'
          '    condition     = length(var.admin_cidrs)', '  type        = string\n\n  validation {\n'
          '    condition     = length(var.admin_cidrs)')
    _edit(aws_copy / "outputs.tf", 'output "nodes" {', 'output "machines" {')
    assert interface_problems(aws_copy, "aws") == [
        "variable admin_cidrs: contract list(string), declared string",
        "variable node_pools[*].max_size: contract number, declared string",
        "output nodes: missing",
    ]


def test_a_required_field_beyond_the_contract_breaks_it(aws_copy: Path) -> None:
    _edit(aws_copy / "variables.tf", "    machine_type          = string\n",
          "    machine_type          = string\n    spot                  = bool\n")
    assert interface_problems(aws_copy, "aws") == [
        "variable node_pools[*].spot: not in the contract and not optional"]


def test_the_loader_reports_an_error_in_a_submodule(aws_copy: Path) -> None:
    _edit(aws_copy / "modules" / "node_pool" / "outputs.tf", "  value       = local.efa_count\n",
          "  valu        = local.efa_count\n")
    findings = load_tree(aws_copy)
    assert findings and any('An argument named "valu" is not expected here' in finding.message
                            for finding in findings)


def test_checkov_rule_every_unrated_failure_and_every_high_or_critical_one_is_a_finding() -> None:
    def check(check_id: str, severity: str | None) -> dict[str, Any]:
        return {"check_id": check_id, "check_name": "name", "severity": severity, "resource": "r",
                "file_path": "/aws/main.tf", "file_line_range": [3, 9]}

    report = {"check_type": "terraform", "results": {
        "passed_checks": [check("CKV_AWS_8", None)],
        "skipped_checks": [check("CKV_AWS_91", None)],
        "failed_checks": [check("CKV_AWS_79", None), check("CKV_AWS_1", "LOW"),
                          check("CKV_AWS_2", "MEDIUM"), check("CKV_AWS_3", "HIGH"),
                          check("CKV_AWS_4", "critical")],
    }}
    findings, passed, skipped = checkov_findings([report], Path("terraform"))
    assert [finding.message.split()[0] for finding in findings] == ["CKV_AWS_79", "CKV_AWS_3", "CKV_AWS_4"]
    assert findings[0].location == "terraform/aws/main.tf:3"
    assert (passed, skipped) == (1, 1)
