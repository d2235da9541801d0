"""Errors that aicluster reports to its user, each naming its cause."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class AiclusterError(Exception):
    """An error with a message meant for the person running aicluster."""

    exit_code = 1


@dataclass(frozen=True)
class FieldError:
    """One problem in a cluster spec, located by its field path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(AiclusterError):
    """A cluster spec that cannot be used; lists every problem found."""

    exit_code = 2

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        self.source = source
        self.errors = errors
        count = len(errors)
        lines = [f"invalid cluster spec {source} ({count} error{'s' if count != 1 else ''}):"]
        lines += [f"  - {error}" for error in errors]
        super().__init__("\n".join(lines))


class StageError(AiclusterError):
    """A pipeline stage that failed; names the stage, the cause and the log."""

    def __init__(self, stage: str, cause: str, log_path: Path | None = None) -> None:
        self.stage = stage
        self.cause = cause
        self.log_path = log_path
        message = f"stage '{stage}' failed: {cause}"
        if log_path is not None:
            message += f"\n  log: {log_path}"
        super().__init__(message)


class ClusterUnreachableError(AiclusterError):
    """The Kubernetes API server of a cluster cannot be reached."""

    exit_code = 2
