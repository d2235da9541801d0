"""What a person sees: one line per stage with its duration, progress, and tables."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class StageLine:
    """The result line of one stage; the stage body fills in its summary."""

    name: str
    summary: str = ""
    notes: list[str] = field(default_factory=list)


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def progress(self, stage: str) -> Callable[[str], None]:
        def report(message: str) -> None:
            self.say(f"    {stage}: {message}")

        return report

    @contextmanager
    def stage(self, name: str) -> Iterator[StageLine]:
        line = StageLine(name)
        started = time.monotonic()
        try:
            yield line
        except BaseException:
            self.say(f"  {'FAILED':<6} {name:<10} {time.monotonic() - started:7.1f}s")
            raise
        summary = f"  {line.summary}" if line.summary else ""
        self.say(f"  {'ok':<6} {name:<10} {time.monotonic() - started:7.1f}s{summary}")
        for note in line.notes:
            self.say(f"         {'':<10} {'':>8}  {note}")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in
              enumerate(headers)]
    lines = ["  ".join(header.ljust(widths[i]) for i, header in enumerate(headers)).rstrip()]
    lines += ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip()
              for row in cells]
    return "\n".join(lines)
