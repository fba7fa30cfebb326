"""Print how many schemas the reliability tests tried, for the README's figures."""

from __future__ import annotations

import pytest

from .strategies import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(TALLY.values()):
        counts = ", ".join(f"{kind}: {count}" for kind, count in TALLY.items())
        terminalreporter.write_line(f"reliability: schemas tried: {counts}")
