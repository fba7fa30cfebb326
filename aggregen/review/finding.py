"""A finding: one problem a schema change causes, where it is, and its fingerprint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .rules import ERROR, RULES

__all__ = ["Finding", "exit_code"]


@dataclass(frozen=True)
class Finding:
    """One problem a schema change causes."""

    path: str
    line: int
    column: int
    rule: str
    subject: str
    message: str
    fingerprint: str
    accepted: str | None = None
    """The reason from the acceptances file, when this finding was accepted."""
    note: str = ""
    """Extra information, such as an acceptance that no longer applies."""
    definition: str = ""
    """The fingerprint of the subject's definition. Earlier aggregen versions gave it
    as the fingerprint of every finding of the subject; acceptances that quote it
    still apply where that is unambiguous (see `acceptance.apply_acceptances`)."""

    @property
    def category(self) -> str:
        """STORAGE or CODE."""
        return RULES[self.rule].category

    @property
    def severity(self) -> str:
        """error or warning."""
        return RULES[self.rule].severity

    @property
    def location(self) -> str:
        """`path:line:col`."""
        return f"{self.path}:{self.line}:{self.column}"

    @property
    def blocking(self) -> bool:
        """Whether it makes the check fail: an error that was not accepted."""
        return self.severity == ERROR and self.accepted is None

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        """Findings are listed by location, then rule, subject and message."""
        return (self.path, self.line, self.column, self.rule, self.subject, self.message)

    def to_json(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        result: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "fingerprint": self.fingerprint,
        }
        if self.accepted is not None:
            result["accepted"] = self.accepted
        if self.note:
            result["note"] = self.note
        return result


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is an error that was not accepted, else 0."""
    return 1 if any(finding.blocking for finding in findings) else 0
