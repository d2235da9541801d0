"""What a check found: status, reason, where the evidence comes from, and the evidence itself."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    NOT_APPLICABLE = "N/A"


class Source(enum.StrEnum):
    """Where a result's evidence comes from."""

    SIMULATED = "simulated"  # simulated nodes and devices (KWOK): proves the API and control plane path
    HARDWARE = "hardware"  # real nodes and accelerators
    NONE = "none"  # nothing was exercised (e.g. no implementation found)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class EvidenceStep:
    """One action of a check and what it observed, with its time."""

    time: str
    action: str
    observed: str = ""
    detail: str = ""  # e.g. the object as created, or a status excerpt (YAML)


@dataclass
class Subtest:
    name: str
    status: Status
    reason: str
    seconds: float = 0.0


@dataclass
class CheckResult:
    requirement_id: str
    test_name: str
    level: str
    status: Status
    reason: str
    source: Source
    implementation: str = ""
    started: str = ""
    seconds: float = 0.0
    subtests: list[Subtest] = field(default_factory=list)
    evidence: list[EvidenceStep] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.requirement_id,
            "test": self.test_name,
            "level": self.level,
            "status": str(self.status),
            "reason": self.reason,
            "source": str(self.source),
            "implementation": self.implementation,
            "started": self.started,
            "seconds": round(self.seconds, 2),
            "subtests": [
                {"name": s.name, "status": str(s.status), "reason": s.reason, "seconds": round(s.seconds, 2)}
                for s in self.subtests
            ],
        }


class Outcome(Exception):
    """Ends a check with a status and a reason, from any depth of its code."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def fail(reason: str) -> Outcome:
    return Outcome(Status.FAIL, reason)


def skip(reason: str) -> Outcome:
    return Outcome(Status.SKIP, reason)
