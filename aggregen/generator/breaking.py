"""The breaking-change check: compare schemas with a base and with every locked version.

`find_breaking_changes(old, new, lock=...)` returns `Finding`s. Each has a rule id
(`RULES`), a category (STORAGE: stored events or streams no longer rehydrate; CODE:
apps that import the generated package break), a severity, a subject
(`domain.Aggregate[.Event|.command]`), a message, a location (in the new schema;
in the old schema or the lock file for something removed) and a fingerprint of the
subject's current definition, which an acceptance must quote.

Storage rules are checked against the base schemas *and* every version in the lock
file (BACKWARD_TRANSITIVE): the current version of an event must read the payloads
of every earlier version, through the upcaster the generator writes for the safe
evolutions (a field added with a default, a field or event renamed with an alias, a
field dropped, an enum value renamed, a widening) or a hand-written one the schema
declares in `hand_written_upcast`. CODE rules compare with the base schemas only.

Field rules (`min_length`, `max_length`, `pattern`, `min`, `max`) are checked when an
event or value is made (by a command or other code), not when a stored one is read:
`from_data` checks types only. So rules are not part of the wire shape (a rule
changed without a version bump is no SHAPE_CHANGED_WITHOUT_VERSION_BUMP, see
`wire_shape`), and a stricter rule is a CODE finding (`FIELD_CONSTRAINT_TIGHTENED`),
never a storage one.

See docs/schema-evolution.md for the rules and the schema keys they read.
"""

from __future__ import annotations

import decimal
import json
import os
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aggregen.runtime.errors import AggregenError

from .docs import markdown_cell, markdown_code
from .errors import SchemaError, SchemaErrors
from .lock import LOCK_FILE_NAME, Lock, parse_lock, read_lock
from .snapshot_fingerprint import snapshot_fingerprint
from .wire_shape import (
    READER_KEYS,
    AggregateShape,
    Document,
    DomainShape,
    EventShape,
    KeyPath,
    domain_shapes,
    fingerprint,
)

__all__ = [
    "ACCEPTED_FILE_NAME",
    "CODE",
    "ERROR",
    "FORMATS",
    "RULES",
    "STORAGE",
    "WARNING",
    "Acceptance",
    "Against",
    "AgainstError",
    "Finding",
    "Rule",
    "apply_acceptances",
    "exit_code",
    "find_breaking_changes",
    "load_against",
    "read_accepted",
    "render",
]

STORAGE = "STORAGE"
CODE = "CODE"
ERROR = "error"
WARNING = "warning"
ACCEPTED_FILE_NAME = "aggregen.accepted.toml"


@dataclass(frozen=True)
class Rule:
    """A kind of finding: its id, category, severity and what it means."""

    id: str
    category: str
    severity: str
    summary: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


RULES: Mapping[str, Rule] = _rules(
    Rule("AGGREGATE_REMOVED", STORAGE, ERROR, "an aggregate with stored streams was removed"),
    Rule("CATEGORY_CHANGED", STORAGE, ERROR, "an aggregate's stream category changed"),
    Rule("IDENTIFIER_TYPE_CHANGED", STORAGE, ERROR, "an aggregate's identifier type changed"),
    Rule("EVENT_REMOVED", STORAGE, ERROR, "an event type was removed or renamed without an alias"),
    Rule("FIELD_RENAMED_WITHOUT_ALIAS", STORAGE, ERROR, "a field was renamed without an alias"),
    Rule("FIELD_TYPE_INCOMPATIBLE", STORAGE, ERROR, "a field's type changed incompatibly"),
    Rule(
        "FIELD_ADDED_REQUIRED_WITHOUT_DEFAULT",
        STORAGE,
        ERROR,
        "a required field without a default was added",
    ),
    Rule("FIELD_MADE_REQUIRED", STORAGE, ERROR, "an optional field was made required"),
    Rule("ENUM_VALUE_REMOVED", STORAGE, ERROR, "an enum value was removed without an alias"),
    Rule(
        "SHAPE_CHANGED_WITHOUT_VERSION_BUMP",
        STORAGE,
        ERROR,
        "an event's wire shape changed but its version did not",
    ),
    Rule("VERSION_GAP", STORAGE, ERROR, "an event's version skipped a number"),
    Rule("VERSION_DECREASED", STORAGE, ERROR, "an event's version went down"),
    Rule("UPCASTER_MISSING", STORAGE, ERROR, "older payloads need a hand-written upcaster"),
    Rule("SNAPSHOT_SHAPE_CHANGED", STORAGE, WARNING, "stored snapshots will be ignored"),
    Rule("AGGREGATE_RENAMED", CODE, ERROR, "an aggregate class was renamed"),
    Rule("EVENT_RENAMED", CODE, ERROR, "an event class was renamed"),
    Rule("FIELD_REMOVED", CODE, ERROR, "an event field was removed"),
    Rule("FIELD_RENAMED", CODE, ERROR, "an event field was renamed"),
    Rule("FIELD_TYPE_CHANGED", CODE, ERROR, "an event field's Python type changed"),
    Rule(
        "FIELD_CONSTRAINT_TIGHTENED",
        CODE,
        ERROR,
        "an event field's rule got stricter: commands may reject values they accepted",
    ),
    Rule("STATE_FIELD_REMOVED", CODE, ERROR, "an aggregate state attribute was removed"),
    Rule("IDENTIFIER_RENAMED", CODE, ERROR, "an aggregate's identifier property was renamed"),
    Rule("COMMAND_REMOVED", CODE, ERROR, "a command method was removed"),
    Rule("COMMAND_KIND_CHANGED", CODE, ERROR, "a command switched class/instance method"),
    Rule("COMMAND_PARAMETER_REMOVED", CODE, ERROR, "a command parameter was removed"),
    Rule("COMMAND_PARAMETER_REQUIRED", CODE, ERROR, "a command parameter became required"),
)
"""Every rule, by id."""

_WIDENINGS = frozenset(
    {
        ("Integer", "Decimal"),
        ("Integer", "Float"),
        ("Date", "DateTime"),
        ("String", "Text"),
        ("Text", "String"),
        ("Identifier", "String"),
        ("Identifier", "Text"),
        ("Enum", "String"),
        ("Enum", "Text"),
    }
)
"""(old kind, new kind) pairs whose old payloads the new type decodes unchanged."""


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


# -- the engine ------------------------------------------------------------------


@dataclass(frozen=True)
class _Old:
    """An earlier version of an event: from the base schemas or the lock file."""

    version: int
    fields: Mapping[str, Mapping[str, Any]]
    hash: str


@dataclass(frozen=True)
class _Problem:
    rule: str
    key_path: KeyPath
    message: str


def find_breaking_changes(
    old_documents: Sequence[Document] | None,
    new_documents: Sequence[Document],
    *,
    lock: Lock | None = None,
) -> list[Finding]:
    """Every finding for the change from `old_documents` (and `lock`) to `new_documents`.

    `old_documents` are the base schemas (None: compare with the lock only). Findings
    are sorted by location; acceptances are applied separately (`apply_acceptances`).
    """
    checker = _Checker(domain_shapes(new_documents))
    if old_documents is not None:
        checker.against_base(domain_shapes(old_documents))
    if lock is not None:
        checker.against_lock(lock)
    checker.check_history()
    return sorted(checker.findings.values(), key=Finding.sort_key)


class _Checker:
    def __init__(self, new: Mapping[str, DomainShape]) -> None:
        self.new = new
        self.findings: dict[tuple[str, ...], Finding] = {}
        self.history: dict[tuple[str, str, str], tuple[EventShape, list[_Old]]] = {}

    # -- recording -----------------------------------------------------------

    def add(
        self,
        rule: str,
        subject: str,
        message: str,
        where: Document | Lock,
        key_path: Sequence[str | int],
        definition: str,
        *,
        dedupe: tuple[str, ...] | None = None,
    ) -> None:
        if isinstance(where, Lock):
            line, column = where.locate(*key_path)
        else:
            line, column = where.locate(key_path)
        key = dedupe if dedupe is not None else (rule, subject, message)
        if key not in self.findings:
            self.findings[key] = Finding(
                str(where.path).replace(os.sep, "/"),
                line,
                column,
                rule,
                subject,
                message,
                definition,
            )

    def remember(self, event: EventShape, old: _Old) -> None:
        key = (event.domain, event.aggregate, event.name)
        self.history.setdefault(key, (event, []))[1].append(old)

    # -- against the base schemas ---------------------------------------------

    def against_base(self, old: Mapping[str, DomainShape]) -> None:
        for domain_name, old_domain in old.items():
            new_domain = self.new.get(domain_name)
            for old_aggregate in old_domain.aggregates:
                new_aggregate = (
                    new_domain.aggregate_for(old_aggregate.name, old_aggregate.category)
                    if new_domain is not None
                    else None
                )
                if new_aggregate is None:
                    self._aggregate_removed(
                        old_aggregate.subject,
                        old_aggregate.category,
                        old_aggregate.document,
                        old_aggregate.key_path,
                        old_aggregate.definition_fingerprint,
                    )
                    continue
                self._aggregate_storage(
                    new_aggregate, old_aggregate.category, old_aggregate.identifier_type
                )
                self._aggregate_code(old_aggregate, new_aggregate)
                self._snapshot(old_aggregate, new_aggregate)
                for old_event in old_aggregate.events:
                    self._base_event(old_event, new_aggregate)

    def _base_event(self, old_event: EventShape, new_aggregate: AggregateShape) -> None:
        new_event = new_aggregate.event_for_wire_type(old_event.type_name)
        if new_event is None:
            same_name = new_aggregate.event_named(old_event.name)
            if same_name is not None:
                message = (
                    f"the wire type of {old_event.name} changed from {old_event.type_name!r} to "
                    f"{same_name.type_name!r} without keeping {old_event.type_name!r} in its "
                    "aliases: stored events of that type would no longer rehydrate"
                )
            else:
                message = (
                    f"event {old_event.name} (wire type {old_event.type_name!r}) was removed: "
                    "its stored events would no longer rehydrate; keep it, or list its wire "
                    "type under the `aliases` of the event that replaces it"
                )
            self.add(
                "EVENT_REMOVED",
                old_event.subject,
                message,
                old_event.document,
                old_event.key_path,
                old_event.definition_fingerprint,
                dedupe=self._removed_key(new_aggregate, old_event.type_name),
            )
            return
        if new_event.name != old_event.name:
            self.add(
                "EVENT_RENAMED",
                new_event.subject,
                f"event class {old_event.name} was renamed to {new_event.name}: code that "
                "imports the old name breaks (stored events still read, by wire type)",
                new_event.document,
                new_event.key_path,
                new_event.definition_fingerprint,
            )
        self._event_code(old_event, new_event)
        self.remember(new_event, _Old(old_event.version, old_event.wire_fields, old_event.hash))

    def _removed_key(self, aggregate: AggregateShape, type_name: str) -> tuple[str, ...]:
        return ("EVENT_REMOVED", aggregate.domain, aggregate.name, type_name)

    def _aggregate_removed(
        self,
        subject: str,
        category: str,
        where: Document | Lock,
        key_path: Sequence[str | int],
        definition: str,
    ) -> None:
        self.add(
            "AGGREGATE_REMOVED",
            subject,
            f"aggregate {subject.rsplit('.', 1)[-1]} (stream category {category!r}) was "
            "removed: its stored streams would no longer rehydrate",
            where,
            key_path,
            definition,
            dedupe=("AGGREGATE_REMOVED", subject),
        )

    def _aggregate_storage(
        self, aggregate: AggregateShape, category: str, identifier_type: str
    ) -> None:
        definition = aggregate.definition_fingerprint
        if category and aggregate.category != category:
            where = (*aggregate.key_path, "category")
            self.add(
                "CATEGORY_CHANGED",
                aggregate.subject,
                f"stream category changed from {category!r} to {aggregate.category!r}: "
                f"streams stored as {category}-<id> would no longer be found",
                aggregate.document,
                where,
                definition,
                dedupe=("CATEGORY_CHANGED", aggregate.subject),
            )
        if identifier_type and aggregate.identifier_type != identifier_type:
            self.add(
                "IDENTIFIER_TYPE_CHANGED",
                aggregate.subject,
                f"identifier type changed from {identifier_type} to "
                f"{aggregate.identifier_type}: stored stream ids may not fit the new type",
                aggregate.document,
                _identifier_path(aggregate),
                definition,
                dedupe=("IDENTIFIER_TYPE_CHANGED", aggregate.subject),
            )

    def _snapshot(self, old: AggregateShape, new: AggregateShape) -> None:
        if old.snapshot_threshold == 0 or new.snapshot_threshold == 0:
            return
        if snapshot_fingerprint(old) == snapshot_fingerprint(new):
            return
        self.add(
            "SNAPSHOT_SHAPE_CHANGED",
            new.subject,
            f"what decides the state of {new.name} from its events changed (state fields, "
            "maps, defaults, enum values or upcasts): stored snapshots no longer fit and are "
            "ignored, so streams replay from the start until new snapshots are taken",
            new.document,
            (*new.key_path, "fields") if new.state or old.state else new.key_path,
            new.definition_fingerprint,
        )

    # -- CODE rules -------------------------------------------------------------

    def _aggregate_code(self, old: AggregateShape, new: AggregateShape) -> None:
        definition = new.definition_fingerprint
        if old.name != new.name:
            self.add(
                "AGGREGATE_RENAMED",
                new.subject,
                f"aggregate class {old.name} was renamed to {new.name} (same stream category): "
                "code that imports the old name breaks",
                new.document,
                new.key_path,
                definition,
            )
        if old.identifier_name != new.identifier_name:
            self.add(
                "IDENTIFIER_RENAMED",
                new.subject,
                f"the identifier was renamed from {old.identifier_name!r} to "
                f"{new.identifier_name!r}: code that reads the old attribute breaks",
                new.document,
                _identifier_path(new),
                definition,
            )
        for name in old.state:
            if name not in new.state and name != new.identifier_name:
                self.add(
                    "STATE_FIELD_REMOVED",
                    new.subject,
                    f"state field {name!r} was removed: code that reads it breaks",
                    new.document,
                    (*new.key_path, "fields") if new.state else new.key_path,
                    definition,
                )
        new_commands = {command.name: command for command in new.commands}
        for command in old.commands:
            subject = f"{new.subject}.{command.name}"
            found = new_commands.get(command.name)
            if found is None:
                self.add(
                    "COMMAND_REMOVED",
                    subject,
                    f"command {command.name}() was removed: code that calls it breaks",
                    new.document,
                    (*new.key_path, "commands") if new.commands else new.key_path,
                    definition,
                )
                continue
            if found.creates != command.creates:
                kind = "a class method" if found.creates else "an instance method"
                self.add(
                    "COMMAND_KIND_CHANGED",
                    subject,
                    f"command {command.name}() is now {kind}: code that calls it breaks",
                    new.document,
                    found.key_path,
                    definition,
                )
            before = _parameters(old, command.event)
            after = _parameters(new, found.event)
            if before is None or after is None:
                continue
            for parameter in before:
                if parameter not in after:
                    self.add(
                        "COMMAND_PARAMETER_REMOVED",
                        subject,
                        f"command {command.name}() lost its parameter {parameter!r}: code that "
                        "passes it breaks",
                        new.document,
                        found.key_path,
                        definition,
                    )
            for parameter, required in after.items():
                if required and not before.get(parameter, False):
                    self.add(
                        "COMMAND_PARAMETER_REQUIRED",
                        subject,
                        f"command {command.name}() now requires {parameter!r}: code that calls "
                        "it without that argument breaks",
                        new.document,
                        found.key_path,
                        definition,
                    )

    def _event_code(self, old: EventShape, new: EventShape) -> None:
        match = _match_fields(old.fields, new.fields)
        definition = new.definition_fingerprint
        guessed = {old_name for old_name, _ in match.guessed}
        for name in match.removed:
            if name in guessed:
                continue
            self.add(
                "FIELD_REMOVED",
                new.subject,
                f"field {name!r} was removed from {new.name}: code that reads or passes it "
                "breaks (stored events are unaffected: the old value is ignored)",
                new.document,
                (*new.key_path, "fields") if new.fields else new.key_path,
                definition,
            )
        for old_name, new_name in match.pairs:
            field_path = (*new.key_path, "fields", new_name)
            if old_name != new_name:
                self.add(
                    "FIELD_RENAMED",
                    new.subject,
                    f"field {old_name!r} of {new.name} was renamed to {new_name!r}: code that "
                    "uses the old name breaks (stored events still read, by alias)",
                    new.document,
                    field_path,
                    definition,
                )
            before = _python_type(old.fields[old_name])
            after = _python_type(new.fields[new_name])
            if before != after and not _literal_widened(old.fields[old_name], new.fields[new_name]):
                self.add(
                    "FIELD_TYPE_CHANGED",
                    new.subject,
                    f"field {new_name!r} of {new.name} changed type from {before} to {after}: "
                    "code that builds or reads it may break",
                    new.document,
                    field_path,
                    definition,
                )
            for problem in _stricter_rules(
                old.fields[old_name], new.fields[new_name], field_path, new_name, new.name
            ):
                self.add(
                    problem.rule,
                    new.subject,
                    problem.message,
                    new.document,
                    problem.key_path,
                    definition,
                )

    # -- against the lock file ------------------------------------------------

    def against_lock(self, lock: Lock) -> None:
        for domain, name, category, identifier in lock.aggregates():
            new_domain = self.new.get(domain)
            aggregate = new_domain.aggregate_for(name, category) if new_domain else None
            if aggregate is None:
                self._aggregate_removed(
                    f"{domain}.{name}",
                    category,
                    lock,
                    (domain, name),
                    fingerprint({"lock": [domain, name, category, identifier]}),
                )
            else:
                self._aggregate_storage(aggregate, category, identifier)
        for locked in lock.events():
            new_domain = self.new.get(locked.domain)
            aggregate = (
                new_domain.aggregate_for(locked.aggregate, locked.category) if new_domain else None
            )
            if aggregate is None:
                continue
            event = aggregate.event_for_wire_type(locked.type_name)
            if event is None:
                self.add(
                    "EVENT_REMOVED",
                    f"{aggregate.subject}.{locked.type_name}",
                    f"locked event type {locked.type_name!r} (up to version {locked.version}) "
                    "has no event any more: its stored events would no longer rehydrate; keep "
                    "it, or list it under the `aliases` of the event that replaces it",
                    lock,
                    (locked.domain, locked.aggregate, locked.type_name),
                    fingerprint(locked.shape),
                    dedupe=self._removed_key(aggregate, locked.type_name),
                )
                continue
            self.remember(event, _Old(locked.version, locked.wire_fields, locked.wire_hash))

    # -- every known earlier version -> the current one -------------------------

    def check_history(self) -> None:
        for event, olds in self.history.values():
            self._versions(event, olds)

    def _versions(self, event: EventShape, olds: list[_Old]) -> None:
        definition = event.definition_fingerprint
        top = max(old.version for old in olds)
        version_path = (*event.key_path, "version")
        if event.version < top:
            self.add(
                "VERSION_DECREASED",
                event.subject,
                f"version went down from {top} to {event.version}: stored version {top} "
                "events would be newer than the code that reads them",
                event.document,
                version_path,
                definition,
            )
        elif event.version > top + 1:
            self.add(
                "VERSION_GAP",
                event.subject,
                f"version jumped from {top} to {event.version}: raise it by one (to {top + 1})",
                event.document,
                version_path,
                definition,
            )
        unique: dict[tuple[int, str], _Old] = {}
        for old in olds:
            unique.setdefault((old.version, old.hash), old)
        needs_hand: set[int] = set()
        for (version, _), old in sorted(unique.items()):
            if version > event.version:
                continue
            if version == event.version and old.hash != event.hash:
                self.add(
                    "SHAPE_CHANGED_WITHOUT_VERSION_BUMP",
                    event.subject,
                    f"the wire shape of version {version} changed, but the version did not: "
                    f"raise the version to {version + 1} so that stored version {version} "
                    "events are upcast",
                    event.document,
                    version_path if "version" in _raw(event) else event.key_path,
                    definition,
                )
            if version < event.version and version in event.hand_written_upcast:
                continue
            problems = _compare_fields(old.fields, event.fields, event.key_path, "", version)
            for problem in problems:
                self.add(
                    problem.rule,
                    event.subject,
                    problem.message,
                    event.document,
                    problem.key_path,
                    definition,
                )
            if problems and version < event.version:
                needs_hand.add(version)
        if needs_hand:
            listed = ", ".join(str(v) for v in sorted(needs_hand))
            self.add(
                "UPCASTER_MISSING",
                event.subject,
                f"version {listed} payloads cannot be upcast to version {event.version} by the "
                "generated upcaster (see the other findings): write an upcaster by hand and "
                f"list the versions under `hand_written_upcast: [{listed}]`",
                event.document,
                event.key_path,
                definition,
            )


def _raw(event: EventShape) -> dict[str, Any]:
    node: Any = event.document.data
    for key in event.key_path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _identifier_path(aggregate: AggregateShape) -> KeyPath:
    if aggregate.identifier_name == "id" and aggregate.identifier_type == "Identifier":
        return aggregate.key_path
    return (*aggregate.key_path, "fields", aggregate.identifier_name)


def _parameters(aggregate: AggregateShape, event_name: str) -> dict[str, bool] | None:
    event = aggregate.event_named(event_name)
    if event is None:
        return None
    return {name: spec.get("presence") == "required" for name, spec in event.fields.items()}


_PYTHON_TYPES = {
    "String": "str",
    "Text": "str",
    "Identifier": "str",
    "Integer": "int",
    "Float": "float",
    "Decimal": "Decimal",
    "Boolean": "bool",
    "Date": "date",
    "DateTime": "datetime",
}


def _python_type(spec: Mapping[str, Any]) -> str:
    """A short form of the Python type a descriptor gives, for CODE comparisons."""
    name = str(spec.get("schema_type", spec.get("kind")))
    name = _PYTHON_TYPES.get(name, name)
    if name == "Enum":
        name = "Enum[" + ", ".join(repr(v) for v in spec.get("values", [])) + "]"
    elif name == "List":
        name = f"List[{_python_type(spec.get('items', {}))}]"
    if spec.get("presence") == "optional":
        name += " | None"
    return name


def _literal_widened(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an inline enum only gained values (code that passes the old ones still works)."""
    return (
        old.get("schema_type") == new.get("schema_type") == "Enum"
        and old.get("presence") == new.get("presence")
        and set(old.get("values", [])) <= set(new.get("values", []))
    )


# -- field compatibility ------------------------------------------------------------


@dataclass(frozen=True)
class _Match:
    pairs: list[tuple[str, str]]
    """(old name, new name) of fields that still read the same key (or its alias)."""
    added: list[str]
    removed: list[str]
    guessed: list[tuple[str, str]]
    """(old, new): a removed and an added field of the same type: a rename without alias."""


def _match_fields(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> _Match:
    pairs: list[tuple[str, str]] = []
    added: list[str] = []
    taken: set[str] = set()
    for name, spec in new.items():
        candidates = [name, *spec.get("aliases", [])]
        found = next((c for c in candidates if c in old and c not in taken), None)
        if found is None:
            added.append(name)
        else:
            taken.add(found)
            pairs.append((found, name))
    removed = [name for name in old if name not in taken]
    guessed: list[tuple[str, str]] = []
    used: set[str] = set()
    for name in added:
        twin = next(
            (
                r
                for r in removed
                if r not in used and _type_signature(old[r]) == _type_signature(new[name])
            ),
            None,
        )
        if twin is not None:
            used.add(twin)
            guessed.append((twin, name))
    return _Match(pairs, added, removed, guessed)


def _type_signature(spec: Mapping[str, Any]) -> str:
    """What a field's values look like on the wire, to guess renames.

    Presence, default and reader metadata (`READER_KEYS`, rules included) are left
    out: an old descriptor from the lock file holds no reader metadata, and a field
    renamed while its rules changed is still recognised.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k not in READER_KEYS and k not in ("presence", "default")
            }
        return value

    return json.dumps(strip(dict(spec)), sort_keys=True)


def _compare_fields(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    container: KeyPath,
    prefix: str,
    version: int,
) -> list[_Problem]:
    """Why payloads of `version` with fields `old` would not read as fields `new`.

    `container` is the key path of the new fields' owner (an event or a value
    object); `prefix` the dotted path of the field holding them ("" at the top).
    Changes a generated upcaster handles are not problems.
    """
    problems: list[_Problem] = []
    match = _match_fields(old, new)
    guessed = {new_name: old_name for old_name, new_name in match.guessed}
    for name in match.added:
        path = (*container, "fields", name)
        shown = prefix + name
        if name in guessed:
            problems.append(
                _Problem(
                    "FIELD_RENAMED_WITHOUT_ALIAS",
                    path,
                    f"field {prefix + guessed[name]!r} seems renamed to {shown!r} without an "
                    f"alias: version {version} payloads hold {guessed[name]!r}, whose value "
                    f"would be lost; add `aliases: [{guessed[name]}]` to {shown!r} (or accept "
                    "this finding if it is not a rename)",
                )
            )
        elif new[name].get("presence") == "required":
            problems.append(
                _Problem(
                    "FIELD_ADDED_REQUIRED_WITHOUT_DEFAULT",
                    path,
                    f"field {shown!r} was added as required without a default: version "
                    f"{version} payloads do not have it; give it a default or make it optional",
                )
            )
    for old_name, new_name in match.pairs:
        path = (*container, "fields", new_name)
        problems.extend(
            _compare_field(old[old_name], new[new_name], path, prefix + new_name, version)
        )
    return problems


def _compare_field(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, version: int
) -> list[_Problem]:
    problems: list[_Problem] = []
    if old.get("presence") == "optional" and new.get("presence") == "required":
        problems.append(
            _Problem(
                "FIELD_MADE_REQUIRED",
                path,
                f"field {shown!r} was optional and is now required: version {version} payloads "
                "may hold null for it; give it a default instead",
            )
        )
    problems.extend(_compare_type(old, new, path, shown, version))
    return problems


def _compare_type(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, version: int
) -> list[_Problem]:
    before, after = str(old.get("kind")), str(new.get("kind"))
    if before != after and (before, after) not in _WIDENINGS:
        return [
            _Problem(
                "FIELD_TYPE_INCOMPATIBLE",
                path,
                f"field {shown!r} changed type from {before} to {after}: version {version} "
                f"payloads hold {old.get('json')} values that {after} does not read",
            )
        ]
    problems: list[_Problem] = []
    if before == "Enum" and after == "Enum":
        aliases = new.get("value_aliases", {})
        kept = set(new.get("values", []))
        lost = [
            value
            for value in old.get("values", [])
            if value not in kept and aliases.get(value) not in kept
        ]
        if lost:
            listed = ", ".join(repr(value) for value in lost)
            problems.append(
                _Problem(
                    "ENUM_VALUE_REMOVED",
                    path,
                    f"field {shown!r} lost the enum value{'s' if len(lost) > 1 else ''} "
                    f"{listed}: version {version} payloads may hold "
                    f"{'them' if len(lost) > 1 else 'it'}; keep "
                    f"{'them' if len(lost) > 1 else 'it'}, or map "
                    f"{'each' if len(lost) > 1 else 'it'} to a current value in `value_aliases`",
                )
            )
    elif after == "List":
        problems.extend(
            _compare_type(old.get("items", {}), new.get("items", {}), path, shown + "[]", version)
        )
    elif after == "Object":
        container: KeyPath = ("value_objects", str(new.get("schema_type")))
        problems.extend(
            _compare_fields(
                old.get("fields", {}), new.get("fields", {}), container, shown + ".", version
            )
        )
    return problems


# -- field rules (CODE) ---------------------------------------------------------------


def _stricter_rules(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, maker: str
) -> list[_Problem]:
    """Where the rules of field `new`, its list items and value object fields are stricter.

    Rules are checked when an event or value is made, not when a stored one is read,
    so this is a CODE comparison, with the base schemas only. `maker` names the class
    whose construction checks the rule (the event, or the value object holding the
    field). A type change outside the widenings is left to the type findings.
    """
    before, after = str(old.get("kind")), str(new.get("kind"))
    if before != after and (before, after) not in _WIDENINGS:
        return []
    problems: list[_Problem] = []
    tightened = _tightened(old, new)
    if tightened:
        problems.append(
            _Problem(
                "FIELD_CONSTRAINT_TIGHTENED",
                path,
                f"field {shown!r} has a stricter rule ({'; '.join(tightened)}): a value that "
                "met the old rule but not the new one now raises ValidationError where a "
                f"command or other code makes {maker}; stored events still read (reading "
                "checks types, not rules)",
            )
        )
    if after == "List":
        problems.extend(
            _stricter_rules(old.get("items", {}), new.get("items", {}), path, shown + "[]", maker)
        )
    elif after == "Object":
        value_object = str(new.get("schema_type"))
        old_fields, new_fields = old.get("fields", {}), new.get("fields", {})
        for old_name, new_name in _match_fields(old_fields, new_fields).pairs:
            problems.extend(
                _stricter_rules(
                    old_fields[old_name],
                    new_fields[new_name],
                    ("value_objects", value_object, "fields", new_name),
                    f"{shown}.{new_name}",
                    value_object,
                )
            )
    return problems


def _number(value: Any) -> decimal.Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
    except decimal.InvalidOperation:
        return None


def _tightened(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, stricter in (
        ("min_length", 1),
        ("min", 1),
        ("max_length", -1),
        ("max", -1),
    ):
        before, after = _number(old.get(key)), _number(new.get(key))
        if after is None:
            continue
        if before is None or (after - before) * stricter > 0:
            shown_before = "none" if before is None else str(old.get(key))
            found.append(f"{key} {shown_before} -> {new.get(key)}")
    pattern = new.get("pattern")
    if pattern is not None and pattern != old.get("pattern"):
        before_pattern = old.get("pattern")
        shown = "none" if before_pattern is None else repr(before_pattern)
        found.append(f"pattern {shown} -> {pattern!r}")
    return found


# -- acceptances ------------------------------------------------------------------


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
    gets a note saying so.
    """
    result = []
    for finding in findings:
        matching = [a for a in acceptances if a.matches(finding)]
        current = next((a for a in matching if a.fingerprint == finding.fingerprint), None)
        if current is not None:
            finding = replace(finding, accepted=current.reason)
        elif matching:
            where = f" in {source}" if source else ""
            finding = replace(
                finding,
                note=f"an acceptance{where} no longer applies: {finding.subject} changed since it "
                f"was accepted (fingerprint now {finding.fingerprint})",
            )
        result.append(finding)
    return result


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when any finding is an error that was not accepted, else 0."""
    return 1 if any(finding.blocking for finding in findings) else 0


# -- output -------------------------------------------------------------------------

FORMATS = ("text", "markdown", "json", "github")


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
        "against": against,
        "findings": [f.to_json() for f in findings],
        "summary": {"errors": errors, "warnings": warnings, "accepted": accepted},
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


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
            f"::{command} file={_escape_property(path)},line={f.line},col={f.column},"
            f"title={_escape_property(f.rule)}::{_escape_data(message)}"
        )
    lines.append(_summary(findings, against))
    return "\n".join(lines) + "\n"


# -- loading the base -------------------------------------------------------------


class AgainstError(AggregenError):
    """The base to compare with cannot be read: not a directory, or a bad git ref."""


@dataclass(frozen=True)
class Against:
    """The base schemas, the lock file there (if any) and how to name the base."""

    documents: list[Any]
    lock: Lock | None
    label: str


Loader = Callable[[Sequence[str | Path]], list[Any]]


def load_against(
    against: str,
    schema_paths: Sequence[str | Path],
    *,
    loader: Loader,
    lock_path: str | Path | None = None,
    cwd: str | Path | None = None,
) -> Against:
    """Load the base schemas: from directory `against`, else from git ref `against`.

    A git ref is read with `git ls-tree` and `git cat-file` in the repository that
    holds `cwd`: the work tree is never touched. `schema_paths` (relative to `cwd`)
    say which files of the ref to read; the lock file at `lock_path` is read from
    the ref too. `loader` loads and validates files (`load_and_validate`); the base
    documents are shown as `REF:path`. Raises `AgainstError` for an unusable base
    and `SchemaErrors` for invalid base schemas.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    directory = base / against
    if directory.is_dir():
        documents = loader([directory])
        return Against(documents, read_lock(directory / LOCK_FILE_NAME), against)
    top = Path(_git(["rev-parse", "--show-toplevel"], base).decode().strip())
    _git(["rev-parse", "--verify", "--quiet", f"{against}^{{commit}}"], base, against)
    relative = [_inside(top, base / path) for path in schema_paths or ["schemas"]]
    names: set[str] = set()
    for rel in relative:
        listed = _git(["ls-tree", "-r", "-z", "--name-only", against, "--", rel], top)
        for name in listed.decode().split("\0"):
            parts = name.split("/")
            if name.endswith((".yaml", ".yml")) and not any(p.startswith(".") for p in parts):
                names.add(name)
    lock = None
    if lock_path is not None:
        lock_rel = _inside(top, base / lock_path)
        if _git(["ls-tree", "-z", "--name-only", against, "--", lock_rel], top):
            text = _git(["cat-file", "blob", f"{against}:{lock_rel}"], top).decode()
            lock = parse_lock(Path(f"{against}:{_shown(top, base, lock_rel)}"), text)
    with tempfile.TemporaryDirectory(prefix="aggregen-against-") as temporary:
        files = []
        for name in sorted(names):
            target = Path(temporary, *name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git(["cat-file", "blob", f"{against}:{name}"], top))
            files.append(target)
        shown = {str(Path(temporary, *n.split("/"))): _shown(top, base, n) for n in names}
        try:
            documents = loader(files) if files else []
        except SchemaErrors as errors:
            raise SchemaErrors(
                [replace(e, path=f"{against}:{shown.get(e.path, e.path)}") for e in errors.errors]
            ) from None
        documents = [
            replace(d, path=Path(f"{against}:{shown.get(str(d.path), d.path)}")) for d in documents
        ]
    return Against(documents, lock, against)


def _inside(top: Path, path: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(top.resolve()).as_posix() or "."
    except ValueError:
        try:
            return absolute.resolve().relative_to(top.resolve()).as_posix() or "."
        except ValueError:
            raise AgainstError(f"{path} is not inside the git repository {top}") from None


def _shown(top: Path, base: Path, name: str) -> str:
    """A path of the repository as the user sees it: relative to the working directory."""
    return Path(os.path.relpath(top / name, base.resolve())).as_posix()


def _git(arguments: list[str], cwd: Path, ref: str | None = None) -> bytes:
    try:
        result = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgainstError(f"cannot run git: {exc}") from exc
    if result.returncode != 0:
        if ref is not None:
            raise AgainstError(f"{ref!r} is neither a directory nor a git commit")
        detail = result.stderr.decode(errors="replace").strip()
        raise AgainstError(f"git {arguments[0]} failed: {detail}")
    return result.stdout
