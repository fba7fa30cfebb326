"""The lock file: the wire shape of every released event version, for ever.

`schemas/aggregen.lock.json` (next to the schemas) is committed. `aggregen lock`
adds the current version of every event to it and never drops an entry: stored
events of every locked version must still rehydrate. It also records each
aggregate's stream category and identifier type, which stored streams depend on too.

An entry is the event version's wire shape (`wire_shape.EventShape.shape`): field
rules, aliases and descriptions are not part of it, so changing them changes no
entry. Lock files written while field rules were still part of the wire shape hold
them in their entries; comparisons ignore them (`LockedEvent.wire_hash`), and
`update_lock` rewrites such entries without them.

The file is deterministic: keys sorted, versions ascending, two-space indentation,
a trailing newline. Each version entry carries the fingerprint of its shape, so a
hand-edited entry is noticed.

    {
      "aggregen_lock": 1,
      "domains": {
        "identity": {
          "aggregates": {
            "User": {
              "category": "user",
              "events": {
                "Registered": [
                  {"fields": {...}, "hash": "sha256:...", "version": 1}
                ]
              },
              "identifier": "Identifier"
            }
          }
        }
      }
    }
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregen.generator.atomic import replace_text
from aggregen.generator.errors import SchemaError, SchemaErrors

from .shape_diff import shape_differences
from .wire_shape import Document, domain_shapes, fingerprint, wire_only

__all__ = [
    "LOCK_FILE_NAME",
    "LOCK_FORMAT",
    "Lock",
    "LockedEvent",
    "check_lock",
    "default_lock_path",
    "dump_lock",
    "lock_data",
    "merge_locks",
    "read_lock",
    "update_lock",
    "write_lock",
]

LOCK_FILE_NAME = "aggregen.lock.json"
LOCK_FORMAT = 1


@dataclass(frozen=True)
class LockedEvent:
    """One locked event version."""

    domain: str
    aggregate: str
    category: str
    identifier: str
    type_name: str
    version: int
    fields: dict[str, Any]
    hash: str

    @property
    def shape(self) -> dict[str, Any]:
        """The shape as the entry holds it: what its `hash` is the fingerprint of."""
        return _shape(self.type_name, self.version, self.fields)

    @property
    def wire_fields(self) -> dict[str, Any]:
        """`fields` without reader metadata (`wire_only`).

        The same as `fields`, except in an entry written while field rules were part
        of the wire shape: it still holds them.
        """
        return _wire_fields(self.fields)

    @property
    def wire_hash(self) -> str:
        """The fingerprint of the wire shape, as `EventShape.hash` gives it: compare this."""
        return fingerprint(_shape(self.type_name, self.version, self.wire_fields))


@dataclass(frozen=True)
class Lock:
    """A lock file's data, and where it came from (to point at its entries)."""

    path: Path
    data: dict[str, Any]
    text: str = ""

    def events(self) -> Iterator[LockedEvent]:
        """Every locked event version, in file order."""
        for domain, domain_data in _items(self.data.get("domains")):
            for aggregate, aggregate_data in _items(domain_data.get("aggregates")):
                category = str(aggregate_data.get("category", ""))
                identifier = str(aggregate_data.get("identifier", ""))
                for type_name, versions in _items(aggregate_data.get("events"), list):
                    for entry in versions:
                        if isinstance(entry, dict):
                            yield LockedEvent(
                                domain=domain,
                                aggregate=aggregate,
                                category=category,
                                identifier=identifier,
                                type_name=type_name,
                                version=int(entry.get("version", 0)),
                                fields=dict(entry.get("fields") or {}),
                                hash=str(entry.get("hash", "")),
                            )

    def aggregates(self) -> Iterator[tuple[str, str, str, str]]:
        """(domain, aggregate, category, identifier type) of every locked aggregate."""
        for domain, domain_data in _items(self.data.get("domains")):
            for aggregate, data in _items(domain_data.get("aggregates")):
                yield (
                    domain,
                    aggregate,
                    str(data.get("category", "")),
                    str(data.get("identifier", "")),
                )

    def only(self, domains: Collection[str]) -> Lock:
        """This lock with the entries of `domains` alone: for a run given some of the schemas."""
        data = dict(self.data)
        data["domains"] = {
            name: d for name, d in _items(self.data.get("domains")) if name in domains
        }
        return Lock(self.path, data, self.text)

    def locate(self, *keys: str | int) -> tuple[int, int]:
        """The (line, column) of an entry: domain, aggregate, then wire type, then version.

        Found in the text as `dump_lock` writes it; (1, 1) when it cannot be found.
        """
        path: list[tuple[str, int]] = [("domains", 2)]
        indent = 4
        for index, key in enumerate(keys):
            if isinstance(key, int):
                path.append((f'"version": {key}', indent + 4))
                break
            path.append((json.dumps(key, ensure_ascii=False) + ":", indent))
            if index == 0:
                path.append(('"aggregates":', indent + 2))
                indent += 4
            elif index == 1:
                path.append(('"events":', indent + 2))
                indent += 4
        lines = self.text.splitlines()
        found = (1, 1)
        start = 0
        for needle, spaces in path:
            prefix = " " * spaces + (needle if needle.startswith('"') else f'"{needle}":')
            for number in range(start, len(lines)):
                if lines[number].startswith(prefix):
                    found, start = (number + 1, spaces + 1), number + 1
                    break
            else:
                return found
        return found


def _shape(type_name: str, version: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A locked entry's shape, laid out as `EventShape.shape` is."""
    return {"type": type_name, "version": version, "fields": fields}


def _wire_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: wire_only(spec) if isinstance(spec, Mapping) else spec
        for name, spec in fields.items()
    }


def _items(value: object, kind: type = dict) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, kind):
                yield str(key), inner


def default_lock_path(schema_paths: Sequence[str | Path]) -> Path:
    """`aggregen.lock.json` next to the schemas: in the directory given, else beside the files.

    With several paths, the deepest directory that holds them all.
    """
    if not schema_paths:
        return Path("schemas") / LOCK_FILE_NAME
    directories = [Path(p) if Path(p).is_dir() else Path(p).parent for p in schema_paths]
    common = Path(os.path.commonpath([d.absolute() for d in directories]))
    if len(directories) == 1:
        return directories[0] / LOCK_FILE_NAME
    try:
        return common.relative_to(Path.cwd()) / LOCK_FILE_NAME
    except ValueError:
        return common / LOCK_FILE_NAME


def lock_data(documents: Sequence[Document]) -> dict[str, Any]:
    """A lock holding exactly the current version of every event of `documents`."""
    domains: dict[str, Any] = {}
    for domain, shapes in sorted(domain_shapes(documents).items()):
        aggregates: dict[str, Any] = {}
        for aggregate in shapes.aggregates:
            events: dict[str, list[dict[str, Any]]] = {}
            for event in aggregate.events:
                events[event.type_name] = [
                    {"version": event.version, "fields": event.wire_fields, "hash": event.hash}
                ]
            aggregates[aggregate.name] = {
                "category": aggregate.category,
                "identifier": aggregate.identifier_type,
                "events": events,
            }
        domains[domain] = {"aggregates": aggregates}
    return {"aggregen_lock": LOCK_FORMAT, "domains": domains}


def dump_lock(data: dict[str, Any]) -> str:
    """The text of a lock file: sorted keys, versions ascending, trailing newline."""
    return json.dumps(_sorted_versions(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sorted_versions(data: dict[str, Any]) -> dict[str, Any]:
    result = json.loads(json.dumps(data))
    for _, domain_data in _items(result.get("domains")):
        for _, aggregate_data in _items(domain_data.get("aggregates")):
            for _, versions in _items(aggregate_data.get("events"), list):
                versions.sort(key=lambda entry: int(entry.get("version", 0)))
    return result  # type: ignore[no-any-return]


def read_lock(path: str | Path) -> Lock | None:
    """The lock file at `path`, or None when there is none.

    Raises `SchemaErrors` for a file that is not a lock file (bad JSON, wrong
    format, an entry whose hash does not match its shape).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaErrors([SchemaError(str(path), 1, 1, f"cannot read lock file: {exc}")]) from exc
    return parse_lock(path, text)


def parse_lock(path: Path, text: str) -> Lock:
    """A `Lock` from the text of a lock file; raises `SchemaErrors` as `read_lock`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"lock file is not JSON: {exc.msg}"
        raise SchemaErrors([SchemaError(str(path), exc.lineno, exc.colno, message)]) from exc
    if not isinstance(data, dict) or data.get("aggregen_lock") != LOCK_FORMAT:
        message = f'not an aggregen lock file (expected "aggregen_lock": {LOCK_FORMAT})'
        raise SchemaErrors([SchemaError(str(path), 1, 1, message)])
    lock = Lock(path, data, text)
    errors = []
    for event in lock.events():
        if fingerprint(event.shape) != event.hash:
            line, column = lock.locate(
                event.domain, event.aggregate, event.type_name, event.version
            )
            errors.append(
                SchemaError(
                    str(path),
                    line,
                    column,
                    f"locked {event.aggregate} event {event.type_name!r} version "
                    f"{event.version} does not match its hash: the lock file was edited by hand",
                )
            )
    if errors:
        raise SchemaErrors(errors)
    return lock


def merge_locks(*locks: Lock | None) -> Lock | None:
    """One lock holding every entry of `locks`; the first lock wins a conflict.

    Used to check against both the working tree's lock and the lock at the base
    ref, so that deleting lock entries does not hide a break.
    """
    present = [lock for lock in locks if lock is not None]
    if not present:
        return None
    merged = json.loads(json.dumps(present[0].data))
    for other in present[1:]:
        for event in other.events():
            _add(merged, event)
    return Lock(present[0].path, merged, dump_lock(merged))


def _add(data: dict[str, Any], event: LockedEvent) -> bool:
    domains = data.setdefault("domains", {})
    aggregates = domains.setdefault(event.domain, {}).setdefault("aggregates", {})
    aggregate = aggregates.setdefault(
        event.aggregate, {"category": event.category, "identifier": event.identifier}
    )
    versions = aggregate.setdefault("events", {}).setdefault(event.type_name, [])
    if any(entry.get("version") == event.version for entry in versions):
        return False
    versions.append({"version": event.version, "fields": event.fields, "hash": event.hash})
    return True


def write_lock(path: str | Path, data: dict[str, Any]) -> bool:
    """Write `data` to `path` atomically unless the file already holds it; True if written."""
    path = Path(path)
    text = dump_lock(data)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    replace_text(path, text, ".aggregen-lock-")
    return True


def update_lock(
    documents: Sequence[Document],
    lock_path: str | Path,
    *,
    replace: bool = False,
    partial: bool = False,
) -> Lock:
    """Add the current version of every event of `documents` to the lock at `lock_path`.

    Entries are only ever added. A current version that is already locked with
    another shape, or an aggregate whose locked category or identifier type changed,
    raises `SchemaErrors` unless `replace` is true, which overwrites those entries:
    only for versions that were never released. A locked version that the schemas
    no longer read raises `SchemaErrors` too (`check_lock`). Whenever it raises,
    the file is left as it was. Entries that still hold field rules (written while
    rules were part of the wire shape) are rewritten without them, with the hash of
    what is left: the same wire shape.

    A locked aggregate is found by its stream category first, then by its name
    (`DomainShape.aggregate_for`): an aggregate renamed with its category kept has
    its entries moved to its new name. With `partial` (a run given some of the
    schemas), locked domains that `documents` do not hold are kept and not checked.
    """
    lock_path = Path(lock_path)
    existing = read_lock(lock_path)
    errors = [] if replace or existing is None else _in_place_changes(documents, existing)
    if errors:
        raise SchemaErrors(errors)
    data: dict[str, Any] = (
        _in_wire_form(existing.data)
        if existing is not None
        else {"aggregen_lock": LOCK_FORMAT, "domains": {}}
    )
    _follow_renames(data, documents)
    current = Lock(lock_path, lock_data(documents))
    for domain, aggregate, category, identifier in current.aggregates():
        aggregates = data["domains"].setdefault(domain, {}).setdefault("aggregates", {})
        entry = aggregates.setdefault(aggregate, {})
        entry["category"] = category
        entry["identifier"] = identifier
        entry.setdefault("events", {})
    for event in current.events():
        versions = data["domains"][event.domain]["aggregates"][event.aggregate]["events"]
        listed = versions.setdefault(event.type_name, [])
        listed[:] = [entry for entry in listed if entry.get("version") != event.version]
        listed.append({"version": event.version, "fields": event.fields, "hash": event.hash})
    updated = Lock(lock_path, _sorted_versions(data), dump_lock(data))
    problems = check_lock(documents, updated.only(_domains(documents)) if partial else updated)
    if problems:
        raise SchemaErrors(problems)
    write_lock(lock_path, data)
    return updated


def _domains(documents: Sequence[Document]) -> set[str]:
    return {str(document.data.get("domain")) for document in documents}


def _follow_renames(data: dict[str, Any], documents: Sequence[Document]) -> None:
    """Move the entries of each aggregate renamed with its category kept to its new name."""
    shapes = domain_shapes(documents)
    for domain, domain_data in _items(data.get("domains")):
        shape = shapes.get(domain)
        aggregates = domain_data.get("aggregates")
        if shape is None or not isinstance(aggregates, dict):
            continue
        for name, entry in list(_items(aggregates)):
            current = shape.aggregate_for(name, str(entry.get("category", "")))
            if current is None or current.name == name:
                continue
            target = aggregates.get(current.name)
            if target is None:
                aggregates[current.name] = aggregates.pop(name)
                continue
            if not isinstance(target, dict):
                continue
            moved: dict[str, Any] = aggregates.pop(name)
            # Both names locked (an earlier lock run wrote the new one): merge them.
            events = target.setdefault("events", {})
            for type_name, versions in _items(moved.get("events"), list):
                listed = events.setdefault(type_name, [])
                known = {v.get("version") for v in listed if isinstance(v, dict)}
                listed.extend(v for v in versions if v.get("version") not in known)


def _in_wire_form(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of lock `data` whose entries hold only the wire shape, each with its hash."""
    result = json.loads(json.dumps(data))
    for _, domain_data in _items(result.get("domains")):
        for _, aggregate_data in _items(domain_data.get("aggregates")):
            for type_name, versions in _items(aggregate_data.get("events"), list):
                for entry in versions:
                    if isinstance(entry, dict):
                        fields = _wire_fields(dict(entry.get("fields") or {}))
                        version = int(entry.get("version", 0))
                        entry["fields"] = fields
                        entry["hash"] = fingerprint(_shape(type_name, version, fields))
    return result  # type: ignore[no-any-return]


def check_lock(documents: Sequence[Document], lock: Lock) -> list[SchemaError]:
    """What `generate` and `check` refuse: locked versions missing or changed in place.

    A locked event version is missing when no event of its aggregate reads its
    wire type (as its type or an alias) at that version or a later one. It is
    changed in place when the event is still at that version with another shape;
    the message names each difference (`shape_diff`).
    A changed stream category or identifier type is reported as well.
    """
    return sorted({error for _, error in _problems(documents, lock)})


_MISSING = "missing"
_CHANGED = "changed"


def _problems(documents: Sequence[Document], lock: Lock) -> list[tuple[str, SchemaError]]:
    """(kind, error) of each problem `check_lock` reports; kind is missing or changed."""
    shapes = domain_shapes(documents)
    errors: list[tuple[str, SchemaError]] = []
    for domain, aggregate_name, category, identifier in lock.aggregates():
        domain_shape = shapes.get(domain)
        aggregate = (
            domain_shape.aggregate_for(aggregate_name, category)
            if domain_shape is not None
            else None
        )
        if aggregate is None:
            line, column = lock.locate(domain, aggregate_name)
            errors.append(
                (
                    _MISSING,
                    SchemaError(
                        str(lock.path),
                        line,
                        column,
                        f"locked aggregate {domain}.{aggregate_name} is missing from the schemas "
                        f"(none is called {aggregate_name} or writes to stream category "
                        f"{category!r}): its stored events would no longer rehydrate; to "
                        f"rename it, keep `category: {category}`",
                    ),
                )
            )
            continue
        where = aggregate.document
        if category and aggregate.category != category:
            line, column = where.locate((*aggregate.key_path, "category"))
            errors.append(
                (
                    _CHANGED,
                    SchemaError(
                        str(where.path),
                        line,
                        column,
                        f"stream category of {aggregate_name} changed from the locked {category!r} "
                        f"to {aggregate.category!r}",
                    ),
                )
            )
        if identifier and aggregate.identifier_type != identifier:
            line, column = where.locate(aggregate.key_path)
            errors.append(
                (
                    _CHANGED,
                    SchemaError(
                        str(where.path),
                        line,
                        column,
                        f"identifier type of {aggregate_name} changed from the locked {identifier} "
                        f"to {aggregate.identifier_type}",
                    ),
                )
            )
    for locked in lock.events():
        domain_shape = shapes.get(locked.domain)
        aggregate = (
            domain_shape.aggregate_for(locked.aggregate, locked.category)
            if domain_shape is not None
            else None
        )
        if aggregate is None:
            continue
        event = aggregate.event_for_wire_type(locked.type_name)
        if event is None or event.version < locked.version:
            line, column = lock.locate(
                locked.domain, locked.aggregate, locked.type_name, locked.version
            )
            reason = (
                "no event reads this wire type (removed, or renamed without an alias)"
                if event is None
                else f"{event.name} is now at version {event.version}"
            )
            errors.append(
                (
                    _MISSING,
                    SchemaError(
                        str(lock.path),
                        line,
                        column,
                        f"locked {locked.aggregate} event {locked.type_name!r} version "
                        f"{locked.version} is missing from the schemas: {reason}",
                    ),
                )
            )
        elif event.version == locked.version and event.hash != locked.wire_hash:
            line, column = event.document.locate(event.key_path)
            differences = shape_differences(locked.wire_fields, event.wire_fields)
            if event.type_name != locked.type_name:
                differences.insert(
                    0, f"wire type changed from {locked.type_name!r} to {event.type_name!r}"
                )
            errors.append(
                (
                    _CHANGED,
                    SchemaError(
                        str(event.document.path),
                        line,
                        column,
                        f"event {locked.aggregate}.{event.name} version {event.version} was "
                        "changed in place: its wire shape differs from the locked one "
                        f"({'; '.join(differences) or 'see the lock file'}); raise its version "
                        "(and keep the old shape readable) instead",
                    ),
                )
            )
    return errors


def _in_place_changes(documents: Sequence[Document], lock: Lock) -> list[SchemaError]:
    return sorted({error for kind, error in _problems(documents, lock) if kind == _CHANGED})
