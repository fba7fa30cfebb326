"""The runtime part of the snapshot fingerprint: the apply code, hand-written included."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest

SOURCE = '''
from typing import ClassVar

from aggregen.runtime import Aggregate, Event


def _double(value: int) -> int:
    return value * 2


class Counter(Aggregate):
    __events__: ClassVar = {}
    total: int

    def _init_state(self) -> None:
        self.total = 0

    def apply(self, event: Event) -> None:
        self.total = self._next(self.total)

    def _next(self, total: int) -> int:
        return _double(total) + 1

    def command(self) -> None:
        """Commands are not apply code."""
'''


def fingerprint(tmp_path: Path, source: str) -> str:
    """`Counter._snapshot_fingerprint()` of a module with `source`, imported afresh."""
    directory = tmp_path / uuid.uuid4().hex
    directory.mkdir()
    (directory / "counter_domain.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module("counter_domain")
        return str(module.Counter._snapshot_fingerprint())
    finally:
        sys.path.remove(str(directory))
        del sys.modules["counter_domain"]


@pytest.mark.parametrize(
    "edit",
    [
        ("+ 1", "+ 2"),  # a method that apply calls
        ("value * 2", "value * 3"),  # a module function that method calls
        ("self.total = 0", "self.total = 5"),  # _init_state
        ("__events__: ClassVar = {}", "__events__: ClassVar = {}\n    __behavior_version__ = 2"),
    ],
)
def test_an_edit_of_what_replay_runs_changes_the_fingerprint(
    tmp_path: Path, edit: tuple[str, str]
) -> None:
    assert edit[0] in SOURCE
    assert fingerprint(tmp_path, SOURCE) != fingerprint(tmp_path, SOURCE.replace(*edit))


@pytest.mark.parametrize(
    "edit",
    [
        ("return _double(total) + 1", "return _double(total) + 1  # a comment"),
        ("return value * 2", "return (value\n            * 2)"),
        ('"""Commands are not apply code."""', "return None"),  # a command
        ("def _init_state(self) -> None:", 'def _init_state(self) -> None:\n        """Doc."""'),
    ],
)
def test_comments_formatting_docstrings_and_commands_leave_it_alone(
    tmp_path: Path, edit: tuple[str, str]
) -> None:
    assert edit[0] in SOURCE
    assert fingerprint(tmp_path, SOURCE) == fingerprint(tmp_path, SOURCE.replace(*edit))
