"""Print how many schemas the reliability tests tried, for the README's figures.

Under pytest-xdist each worker hands its counts to the controller when it stops;
tests/conftest.py adds them up and prints the same line.
"""

from __future__ import annotations

from typing import Any

import pytest

from .strategies import TALLY

WORKER_OUTPUT_KEY = "aggregen_reliability_tally"


def pytest_sessionfinish(session: pytest.Session) -> None:
    output: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if output is not None:  # an xdist worker: the controller prints
        output[WORKER_OUTPUT_KEY] = dict(TALLY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(TALLY.values()):
        counts = ", ".join(f"{kind}: {count}" for kind, count in TALLY.items())
        terminalreporter.write_line(f"reliability: schemas tried: {counts}")
