"""Prints each Molecule scenario's exit code and time at the end of the run (the tests only wait
for results, so pytest's own durations do not show a scenario's time)."""

from __future__ import annotations

import pytest

SCENARIO_TIMES = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(SCENARIO_TIMES, [])
    if lines:
        terminalreporter.section("Molecule scenarios")
        for line in lines:
            terminalreporter.write_line(line)
