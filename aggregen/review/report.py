"""Findings as a report: text, markdown (a pull request comment), json, github annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from aggregen.generator.docs import markdown_cell, markdown_code

from .finding import Finding
from .rules import ERROR, WARNING

__all__ = ["FORMATS", "JSON_FORMAT_VERSION", "escape_data", "escape_property", "render"]

FORMATS = ("text", "markdown", "json", "github")
JSON_FORMAT_VERSION = 1
"""The version of the JSON documents of `breaking`, `check` and `validate` (docs/ci.md)."""


def render(findings: Sequence[Finding], output_format: str, *, against: str = "") -> str:
    """The findings as text, markdown, json or github annotations (ends with a newline)."""
    renderers: dict[str, Callable[[Sequence[Finding], str], str]] = {
        "text": _text,
        "markdown": _markdown,
        "json": _json,
        "github": _github,
    }
    return renderers[output_format](findings, against)


def _counts(findings: Sequence[Finding]) -> tuple[int, int, int]:
    errors = sum(1 for f in findings if f.severity == ERROR and f.accepted is None)
    warnings = sum(1 for f in findings if f.severity == WARNING and f.accepted is None)
    accepted = sum(1 for f in findings if f.accepted is not None)
    return errors, warnings, accepted


def _summary(findings: Sequence[Finding], against: str) -> str:
    errors, warnings, accepted = _counts(findings)
    where = f" against {against}" if against else ""
    if not findings:
        return f"no breaking changes{where}"
    parts = [_plural(errors, "error"), _plural(warnings, "warning")]
    if accepted:
        parts.append(f"{accepted} accepted")
    return ", ".join(parts) + where


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _text(findings: Sequence[Finding], against: str) -> str:
    lines = []
    for f in findings:
        line = f"{f.location}: {f.severity} {f.rule} [{f.category}] {f.subject}: {f.message}"
        if f.accepted is not None:
            line += f" (accepted: {f.accepted})"
        if f.note:
            line += f" ({f.note})"
        lines.append(line)
    lines.append(_summary(findings, against))
    return "\n".join(lines) + "\n"


def _markdown(findings: Sequence[Finding], against: str) -> str:
    lines = [f"### aggregen schema review: {markdown_cell(_summary(findings, against))}", ""]
    if not findings:
        return "\n".join(lines)
    lines += [
        "STORAGE: stored events or streams would no longer rehydrate. "
        "CODE: apps that import the generated package break.",
        "",
        "| Severity | Category | Rule | Subject | Where | Finding |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in findings:
        severity = f"{f.severity} (accepted)" if f.accepted is not None else f.severity
        message = markdown_cell(f.message)
        if f.accepted is not None:
            message += f" Accepted: {markdown_cell(f.accepted)}"
        if f.note:
            message += f" Note: {markdown_cell(f.note)}"
        lines.append(
            f"| {severity} | {f.category} | {markdown_code(f.rule)} | {markdown_code(f.subject)} | "
            f"{markdown_code(f.location)} | {message} |"
        )
    return "\n".join(lines) + "\n"


def _json(findings: Sequence[Finding], against: str) -> str:
    errors, warnings, accepted = _counts(findings)
    data = {
        "format_version": JSON_FORMAT_VERSION,
        "command": "breaking",
        "against": against,
        "findings": [f.to_json() for f in findings],
        "summary": {"errors": errors, "warnings": warnings, "accepted": accepted},
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(findings: Sequence[Finding], against: str) -> str:
    lines = []
    for f in findings:
        command = "notice" if f.accepted is not None else f.severity
        path = f.path.removeprefix(f"{against}:") if against else f.path
        message = f"[{f.category}] {f.subject}: {f.message}"
        if f.accepted is not None:
            message += f" (accepted: {f.accepted})"
        if f.note:
            message += f" ({f.note})"
        lines.append(
            f"::{command} file={escape_property(path)},line={f.line},col={f.column},"
            f"title={escape_property(f.rule)}::{escape_data(message)}"
        )
    lines.append(_summary(findings, against))
    return "\n".join(lines) + "\n"
