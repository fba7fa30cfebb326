"""What `validate` and `check` found, as text, JSON or GitHub annotations.

The JSON document (format version `JSON_FORMAT_VERSION`, documented in
docs/ci.md) is one object:

    {"format_version": 1, "command": "check", "ok": false,
     "errors": [{"path", "line", "column", "message"}],      # invalid schemas
     "files": [{"path", "problem"}],                         # generated files
     "docs": [{"path", "problem"}],                          # docs pages
     "findings": [Finding.to_json()],                        # stranded history
     "to_do": ["..."],                                       # hand-written code to write
     "warnings": [{"path", "problem"}],                      # do not fail the command
     "fix": "aggregen generate ..." | null}

`breaking --format json` prints the review report with the same `format_version`
and `command` keys. GitHub annotations are `::error file=...,line=...::message`
workflow commands, one per problem, and `::warning file=...::message` for each warning.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aggregen.review.finding import Finding
from aggregen.review.report import JSON_FORMAT_VERSION, escape_data, escape_property, render

from .errors import SchemaError

__all__ = ["JSON_FORMAT_VERSION", "OUTPUT_FORMATS", "Outcome", "PathProblem"]

OUTPUT_FORMATS = ("text", "json", "github")


@dataclass(frozen=True)
class PathProblem:
    """A generated file or docs page that is not what aggregen would write."""

    path: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


@dataclass
class Outcome:
    """The result of `validate` or `check`: every problem, and the text report."""

    command: str
    errors: Sequence[SchemaError] = ()
    files: list[PathProblem] = field(default_factory=list)
    docs: list[PathProblem] = field(default_factory=list)
    findings: Sequence[Finding] = ()
    to_do: Sequence[str] = ()
    warnings: list[PathProblem] = field(default_factory=list)
    """Worth knowing, not wrong: a hand-written module nothing generated uses any more."""
    fix: str | None = None
    text: str = ""
    """The human report (what `--format text` prints)."""

    @property
    def ok(self) -> bool:
        return not (self.errors or self.files or self.docs or self.findings or self.to_do)

    def render(self, output_format: str) -> str:
        """The outcome as `text`, `json` or `github` (ends with a newline, or is empty)."""
        if output_format == "json":
            return self._json()
        if output_format == "github":
            return self._github()
        return self.text

    def _json(self) -> str:
        data: dict[str, Any] = {
            "format_version": JSON_FORMAT_VERSION,
            "command": self.command,
            "ok": self.ok,
            "errors": [
                {"path": e.path, "line": e.line, "column": e.column, "message": e.message}
                for e in self.errors
            ],
            "files": [p.to_json() for p in self.files],
            "docs": [p.to_json() for p in self.docs],
            "findings": [f.to_json() for f in self.findings],
            "to_do": list(self.to_do),
            "warnings": [w.to_json() for w in self.warnings],
            "fix": self.fix,
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def _github(self) -> str:
        lines = [
            f"::error file={escape_property(e.path)},line={e.line},col={e.column},"
            f"title=invalid schema::{escape_data(e.message)}"
            for e in self.errors
        ]
        fix = f"; to fix it run: {self.fix}" if self.fix else ""
        lines += [
            f"::error file={escape_property(p.path)},title=generated code::"
            f"{escape_data(p.problem + fix)}"
            for p in self.files
        ]
        lines += [
            f"::error file={escape_property(p.path)},title=schema docs::"
            f"{escape_data(p.problem + '; to fix it run: aggregen docs')}"
            for p in self.docs
        ]
        lines += [f"::error title=hand-written code::{escape_data(item)}" for item in self.to_do]
        lines += [
            f"::warning file={escape_property(w.path)},title=hand-written code::"
            f"{escape_data(w.problem)}"
            for w in self.warnings
        ]
        text = "\n".join(lines) + "\n" if lines else ""
        if self.findings:
            text += render(self.findings, "github", against="the lock file")
        return text
