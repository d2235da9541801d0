"""Conformance profiles: one data file per checklist version in validation/profiles/."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from aicluster.paths import REPO_ROOT

PROFILES_DIR = REPO_ROOT / "validation" / "profiles"


@dataclass(frozen=True)
class Requirement:
    id: str
    category: str
    level: str
    summary: str
    condition: str | None = None
    na_allowed: bool = False
    upstream_test: str | None = None


@dataclass(frozen=True)
class Profile:
    version: str
    requirements: tuple[Requirement, ...]

    @property
    def must_ids(self) -> list[str]:
        return [r.id for r in self.requirements if r.level == "MUST"]


def profile_versions(directory: Path = PROFILES_DIR) -> list[str]:
    """Checklist versions with a profile, oldest first."""
    return sorted((path.stem for path in directory.glob("*.yaml")),
                  key=lambda version: tuple(int(part) for part in version.split(".")))


@cache
def load_profile(version: str, directory: Path = PROFILES_DIR) -> Profile:
    path = directory / f"{version}.yaml"
    if not path.is_file():
        raise KeyError(f"no conformance profile {version!r}; available: "
                       f"{', '.join(profile_versions(directory))}")
    document = yaml.safe_load(path.read_text())
    return Profile(str(document["version"]),
                   tuple(Requirement(**entry) for entry in document["requirements"]))
