"""The bill of materials: every pinned version, read from bom.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from aicluster.paths import BOM_FILE


@dataclass(frozen=True)
class DownloadSource:
    """Where a released binary is published, and how its checksum is found."""

    url: str
    sha256_url: str | None = None
    archive_member: str | None = None


@dataclass(frozen=True)
class BinarySet:
    """Binaries released together and built from one pinned Go module."""

    name: str
    version: str
    module: str
    build_dir: str
    packages: dict[str, str]
    build_tags: list[str] = field(default_factory=list)
    version_ldflags_packages: list[str] = field(default_factory=list)
    download: DownloadSource | None = None
    go_minimum: str | None = None
    # Build inside a copy of the pinned module itself: for modules whose go.mod has replace
    # directives, which apply only to the main module (build_dir is then empty).
    build_in_module: bool = False
    # Needs cgo (C parts, e.g. NVIDIA's libraries through dlopen); every other set builds without.
    cgo: bool = False


@dataclass(frozen=True)
class ManifestModule:
    """A pinned Go module read only for the manifests it ships (CRDs), never built."""

    name: str
    version: str
    module: str
    build_dir: str = ""
    go_minimum: str | None = None


@dataclass(frozen=True)
class Bom:
    """The parsed bill of materials."""

    kubernetes_version: str
    supported_minors: list[str]
    binaries: dict[str, BinarySet]
    raw: dict[str, Any]
    manifest_modules: dict[str, ManifestModule] = field(default_factory=dict)

    def source(self, name: str) -> BinarySet | ManifestModule:
        """The module of a binary set or a manifest module, by name."""
        if name in self.binaries:
            return self.binaries[name]
        if name in self.manifest_modules:
            return self.manifest_modules[name]
        raise KeyError(f"no module named {name!r} in the bill of materials")

    def binary_set_of(self, binary: str) -> BinarySet:
        for binary_set in self.binaries.values():
            if binary in binary_set.packages:
                return binary_set
        raise KeyError(f"no binary named {binary!r} in the bill of materials")


def parse_bom(document: dict[str, Any]) -> Bom:
    root = document["aicluster_bom"]
    binaries: dict[str, BinarySet] = {}
    for name, entry in root["binaries"].items():
        download = entry.get("download")
        binaries[name] = BinarySet(
            name=name,
            version=entry["version"],
            module=entry["module"],
            build_dir=entry.get("build_dir", ""),
            packages=dict(entry["packages"]),
            build_tags=list(entry.get("build_tags", [])),
            version_ldflags_packages=list(entry.get("version_ldflags_packages", [])),
            download=DownloadSource(**download) if download else None,
            go_minimum=str(entry["go_minimum"]) if entry.get("go_minimum") else None,
            build_in_module=bool(entry.get("build_in_module", False)),
            cgo=bool(entry.get("cgo", False)),
        )
    return Bom(
        kubernetes_version=root["kubernetes"]["version"],
        supported_minors=[str(minor) for minor in root["kubernetes"]["supported_minors"]],
        binaries=binaries,
        raw=root,
        manifest_modules={name: ManifestModule(name, entry["version"], entry["module"])
                          for name, entry in (root.get("manifest_modules") or {}).items()},
    )


@cache
def load_bom(path: Path = BOM_FILE) -> Bom:
    with path.open(encoding="utf-8") as handle:
        return parse_bom(yaml.safe_load(handle))
