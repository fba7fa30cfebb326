"""The acceptances file: intentional breaks, each quoting the fingerprint it accepts.

`schemas/aggregen.accepted.toml` (next to the lock file) holds `[[accept]]` tables;
an acceptance applies to a finding of its rule and subject while the finding's
fingerprint is the one it quotes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aggregen.generator.errors import SchemaError, SchemaErrors

from .finding import Finding
from .rules import RULES

__all__ = [
    "ACCEPTED_FILE_NAME",
    "Acceptance",
    "apply_acceptances",
    "parse_accepted",
    "read_accepted",
]

ACCEPTED_FILE_NAME = "aggregen.accepted.toml"


@dataclass(frozen=True)
class Acceptance:
    """An intentional break, accepted in the acceptances file."""

    rule: str
    event: str
    """The subject it accepts: `Aggregate.Event` (or any other subject, optionally
    with its `domain.` prefix)."""
    reason: str
    fingerprint: str

    def matches(self, finding: Finding) -> bool:
        """Whether it names `finding`'s rule and subject (whatever the fingerprint)."""
        return finding.rule == self.rule and (
            finding.subject == self.event or finding.subject.endswith("." + self.event)
        )


def read_accepted(path: str | Path) -> list[Acceptance]:
    """The acceptances in the TOML file at `path` (none when it does not exist).

    The file holds `[[accept]]` tables with `rule`, `event`, `reason` and
    `fingerprint` (copied from the finding). Raises `SchemaErrors` when it is not
    such a file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaErrors([SchemaError(str(path), 1, 1, f"cannot read: {exc}")]) from exc
    return parse_accepted(path, text)


def parse_accepted(path: Path, text: str) -> list[Acceptance]:
    """Acceptances from the text of an acceptances file; see `read_accepted`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (1, 1)
        raise SchemaErrors([SchemaError(str(path), line, column, f"invalid TOML: {exc}")]) from exc
    errors: list[SchemaError] = []
    unknown = sorted(set(data) - {"accept"})
    if unknown:
        errors.append(SchemaError(str(path), 1, 1, f"unknown key {unknown[0]!r}: use [[accept]]"))
    accepted: list[Acceptance] = []
    entries = data.get("accept", [])
    if not isinstance(entries, list):
        entries = []
        errors.append(SchemaError(str(path), 1, 1, "'accept' must be an array of tables"))
    keys = ("rule", "event", "reason", "fingerprint")
    for index, entry in enumerate(entries, start=1):
        where = f"[[accept]] number {index}"
        if not isinstance(entry, dict):
            errors.append(SchemaError(str(path), 1, 1, f"{where} is not a table"))
            continue
        problems = [
            f"needs a string {key!r}" for key in keys if not isinstance(entry.get(key), str)
        ]
        problems += [f"has an unknown key {key!r}" for key in sorted(set(entry) - set(keys))]
        if isinstance(entry.get("rule"), str) and entry["rule"] not in RULES:
            problems.append(f"names an unknown rule {entry['rule']!r}")
        if isinstance(entry.get("reason"), str) and not entry["reason"].strip():
            problems.append("needs a reason")
        if problems:
            errors.extend(SchemaError(str(path), 1, 1, f"{where} {p}") for p in problems)
            continue
        accepted.append(
            Acceptance(entry["rule"], entry["event"], entry["reason"], entry["fingerprint"])
        )
    if errors:
        raise SchemaErrors(errors)
    return accepted


def apply_acceptances(
    findings: Iterable[Finding], acceptances: Sequence[Acceptance], source: str = ""
) -> list[Finding]:
    """`findings`, with those an acceptance names (with their current fingerprint) accepted.

    An acceptance whose fingerprint no longer matches does not apply; the finding
    gets a note saying so. An acceptance written by an earlier aggregen, which gave
    every finding of a subject the subject's fingerprint (`Finding.definition`),
    still applies when exactly one finding of its rule and subject has that
    definition, with a note giving the fingerprint to quote now; when several do, it
    applies to none of them and each gets a note asking to accept them one by one.
    """
    findings = list(findings)
    fingerprints = {finding.fingerprint for finding in findings}
    siblings: dict[tuple[str, str, str], int] = {}
    for finding in findings:
        key = (finding.rule, finding.subject, finding.definition)
        siblings[key] = siblings.get(key, 0) + 1
    where = f" in {source}" if source else ""
    result = []
    for finding in findings:
        matching = [
            a
            for a in acceptances
            if a.matches(finding)
            # an acceptance of another finding of the same rule and subject
            and (a.fingerprint == finding.fingerprint or a.fingerprint not in fingerprints)
        ]
        current = next((a for a in matching if a.fingerprint == finding.fingerprint), None)
        legacy = next(
            (
                a
                for a in matching
                if finding.definition
                and finding.definition != finding.fingerprint
                and a.fingerprint == finding.definition
            ),
            None,
        )
        if current is not None:
            finding = replace(finding, accepted=current.reason)
        elif legacy is not None:
            count = siblings[(finding.rule, finding.subject, finding.definition)]
            if count == 1:
                finding = replace(
                    finding,
                    accepted=legacy.reason,
                    note=f"the acceptance{where} quotes the fingerprint an earlier aggregen gave; "
                    f"quote this finding's own fingerprint {finding.fingerprint} instead",
                )
            else:
                finding = replace(
                    finding,
                    note=f"an acceptance{where} quotes the fingerprint an earlier aggregen gave "
                    f"all {count} {finding.rule} findings of {finding.subject}, so it accepts "
                    "none of them: accept each one on its own, quoting its fingerprint "
                    f"(this one: {finding.fingerprint})",
                )
        elif matching:
            finding = replace(
                finding,
                note=f"an acceptance{where} no longer applies: {finding.subject} changed since it "
                f"was accepted (fingerprint now {finding.fingerprint})",
            )
        result.append(finding)
    return result
