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

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggregen.generator.snapshot_fingerprint import snapshot_fingerprint

from .fields import compare_fields, literal_widened, match_fields, python_type, stricter_rules
from .finding import Finding
from .lock import Lock
from .wire_shape import (
    AggregateShape,
    Document,
    DomainShape,
    EventShape,
    KeyPath,
    domain_shapes,
    fingerprint,
)

__all__ = ["find_breaking_changes"]


@dataclass(frozen=True)
class _Old:
    """An earlier version of an event: from the base schemas or the lock file."""

    version: int
    fields: Mapping[str, Mapping[str, Any]]
    hash: str


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
        detail: str | None = None,
        dedupe: tuple[str, ...] | None = None,
    ) -> None:
        """Record a finding (the first one wins a `dedupe` key, default rule, subject, message).

        `definition` is the fingerprint of the subject's definition. `detail` names
        what the finding is about where one subject can have several findings of a
        rule (a field, a parameter, a version): the finding's own fingerprint then
        covers it too, so that accepting one finding never accepts another.
        """
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
                _finding_fingerprint(rule, definition, detail),
                definition=definition,
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
                    self._base_event(old_event, old_aggregate, new_aggregate)

    def _base_event(
        self, old_event: EventShape, old_aggregate: AggregateShape, new_aggregate: AggregateShape
    ) -> None:
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
        self._maps(old_aggregate, old_event, new_aggregate, new_event)
        self.remember(new_event, _Old(old_event.version, old_event.wire_fields, old_event.hash))

    def _maps(
        self,
        old_aggregate: AggregateShape,
        old_event: EventShape,
        new_aggregate: AggregateShape,
        new_event: EventShape,
    ) -> None:
        """EVENT_MAPS_CHANGED: a stored event's field sets another state field than before.

        A state field renamed (the old target gone, the new one new) is no change of
        meaning; a state field added and set from history is new information.
        """
        for old_name, new_name in match_fields(old_event.fields, new_event.fields).pairs:
            before = old_aggregate.target(old_event, old_name)
            after = new_aggregate.target(new_event, new_name)
            if before == after:
                continue
            if not (
                (before is not None and before in new_aggregate.state)
                or (after is not None and after in old_aggregate.state)
            ):
                continue
            shown_before = "no state field" if before is None else f"state field {before!r}"
            shown_after = "no state field" if after is None else f"state field {after!r}"
            where = (
                (*new_event.key_path, "maps", new_name)
                if new_name in new_event.maps
                else (*new_event.key_path, "fields", new_name)
            )
            self.add(
                "EVENT_MAPS_CHANGED",
                new_event.subject,
                f"applying {new_event.name} set {shown_before} from its field {old_name!r}; "
                f"now it sets {shown_after}: every stored {new_event.name} event would replay "
                "into another state than the one its command produced (and differ from "
                "snapshots taken before)"
                + (
                    f"; keep `maps: {{{new_name}: {before}}}` unless that is the intent"
                    if before is not None and before in new_aggregate.state
                    else ""
                ),
                new_event.document,
                where,
                new_event.definition_fingerprint,
                detail=new_name,
            )

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
                    detail=name,
                )
                continue
            if name not in new.state:
                continue
            old_type, new_type = python_type(old.state[name]), python_type(new.state[name])
            if old_type != new_type and not literal_widened(old.state[name], new.state[name]):
                self.add(
                    "STATE_FIELD_TYPE_CHANGED",
                    new.subject,
                    f"state field {name!r} of {new.name} changed type from {old_type} to "
                    f"{new_type}: code that reads it may break",
                    new.document,
                    (*new.key_path, "fields", name),
                    definition,
                    detail=name,
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
                        detail=parameter,
                    )
            old_defaults, new_defaults = _defaults(old, command.event), _defaults(new, found.event)
            for parameter, default in new_defaults.items():
                if parameter in old_defaults and old_defaults[parameter] != default:
                    self.add(
                        "COMMAND_DEFAULT_CHANGED",
                        subject,
                        f"command {command.name}() called without {parameter!r} now stores "
                        f"{default!r} instead of {old_defaults[parameter]!r}",
                        new.document,
                        found.key_path,
                        definition,
                        detail=parameter,
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
                        detail=parameter,
                    )

    def _event_code(self, old: EventShape, new: EventShape) -> None:
        match = match_fields(old.fields, new.fields)
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
                detail=name,
            )
        for old_name, new_name in match.pairs:
            field_path = (*new.key_path, "fields", new_name)
            if old_name != new_name:
                self.add(
                    "FIELD_RENAMED",
                    new.subject,
                    f"field {old_name!r} of {new.name} was renamed to {new_name!r}: code that "
                    "uses the old name breaks (stored events still read, "
                    + (
                        "under the key it kept)"
                        if (old_name, new_name) in match.by_key
                        else "by alias)"
                    ),
                    new.document,
                    field_path,
                    definition,
                    detail=f"{old_name} -> {new_name}",
                )
            before = python_type(old.fields[old_name])
            after = python_type(new.fields[new_name])
            if before != after and not literal_widened(old.fields[old_name], new.fields[new_name]):
                self.add(
                    "FIELD_TYPE_CHANGED",
                    new.subject,
                    f"field {new_name!r} of {new.name} changed type from {before} to {after}: "
                    "code that builds or reads it may break",
                    new.document,
                    field_path,
                    definition,
                    detail=new_name,
                )
            for problem in stricter_rules(
                old.fields[old_name], new.fields[new_name], field_path, new_name, new.name
            ):
                self.add(
                    problem.rule,
                    new.subject,
                    problem.message,
                    new.document,
                    problem.key_path,
                    definition,
                    detail=_key_path_detail(problem.key_path),
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
            problems = compare_fields(old.fields, event.fields, event.key_path, "", version)
            for problem in problems:
                self.add(
                    problem.rule,
                    event.subject,
                    problem.message,
                    event.document,
                    problem.key_path,
                    definition,
                    detail=f"{_key_path_detail(problem.key_path)} @{version}",
                )
            if problems and version < event.version:
                needs_hand.add(version)
        self._defaults(event, olds)
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

    def _defaults(self, event: EventShape, olds: list[_Old]) -> None:
        """FIELD_DEFAULT_CHANGED: stored payloads that lack a field would read another value.

        Payloads of a version without the field read its default. What they read
        until now is the default of the newest earlier version that has the field;
        when that default changed or was removed, they change meaning (a field that
        had no default and is given one is the safe evolution of an optional field:
        None becomes the default, for lacking payloads as for stored nulls). A
        hand-written upcaster decides for the versions it covers.
        """
        for name, spec in event.fields.items():
            presence = spec.get("presence")
            if presence == "required":
                continue  # lacking payloads: FIELD_ADDED_REQUIRED_WITHOUT_DEFAULT
            names = (name, *spec.get("aliases", []))

            lacking = sorted(
                {
                    old.version
                    for old in olds
                    if old.version < event.version
                    and _held(old, names) is None
                    and old.version not in event.hand_written_upcast
                }
            )
            having = [old for old in olds if old.version <= event.version and _held(old, names)]
            if not lacking or not having:
                continue
            newest = max(having, key=lambda old: old.version)
            before = _held(newest, names) or {}
            if before.get("presence") != "default":
                # Required: lacking payloads did not read before. Optional: they read
                # None, which a default now replaces, as it replaces stored nulls (an
                # optional field given a default is a safe evolution).
                continue
            was = before.get("default") if before.get("presence") == "default" else None
            now = spec.get("default") if presence == "default" else None
            if was == now and before.get("presence") == presence:
                continue
            listed = ", ".join(str(v) for v in lacking)
            self.add(
                "FIELD_DEFAULT_CHANGED",
                event.subject,
                f"version {listed} payloads lack {name!r} and read it as "
                f"{_shown_default(was, before.get('presence'))} (the default at version "
                f"{newest.version}); they would now read {_shown_default(now, presence)}: "
                f"stored events would change meaning; keep the default, or list the "
                f"versions under `hand_written_upcast: [{listed}]` and set the old value there",
                event.document,
                (*event.key_path, "fields", name),
                event.definition_fingerprint,
                detail=name,
            )


def _held(old: _Old, names: Sequence[str]) -> Mapping[str, Any] | None:
    """The descriptor of the first of `names` that version `old` has, if any."""
    return next((old.fields[name] for name in names if name in old.fields), None)


def _shown_default(value: Any, presence: str | None) -> str:
    return repr(value) if presence == "default" else "None (no default)"


def _finding_fingerprint(rule: str, definition: str, detail: str | None) -> str:
    """A finding's fingerprint: the subject's definition, with the detail when there is one."""
    if detail is None:
        return definition
    return fingerprint({"definition": definition, "rule": rule, "detail": detail})


def _key_path_detail(key_path: KeyPath) -> str:
    return "/".join(str(key) for key in key_path)


def _raw(event: EventShape) -> dict[str, Any]:
    node: Any = event.document.data
    for key in event.key_path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _identifier_path(aggregate: AggregateShape) -> KeyPath:
    if aggregate.identifier_name == "id" and aggregate.identifier_type == "Identifier":
        return aggregate.key_path
    return (*aggregate.key_path, "fields", aggregate.identifier_name)


def _defaults(aggregate: AggregateShape, event_name: str) -> dict[str, Any]:
    """Parameter -> default, for the parameters of a command raising `event_name` that have one."""
    event = aggregate.event_named(event_name)
    if event is None:
        return {}
    return {
        name: spec.get("default")
        for name, spec in event.fields.items()
        if spec.get("presence") == "default"
    }


def _parameters(aggregate: AggregateShape, event_name: str) -> dict[str, bool] | None:
    event = aggregate.event_named(event_name)
    if event is None:
        return None
    return {name: spec.get("presence") == "required" for name, spec in event.fields.items()}
