"""The wire shape of every event version: what its stored JSON looks like.

A stored event is a wire type name, a schema version and a JSON object. Its *wire
shape* says, for each key of that object, what a reader accepts: the JSON type, the
kind of schema type it decodes to, whether the key may be missing or null
(`presence`), the default used when it is missing, enum values, list items and value
object fields. Names of value objects and enums and all descriptions are left out:
they never reach the wire.

Field descriptors also carry metadata that is *not* part of the wire shape
(`READER_KEYS`): `aliases` (earlier names of a field), `wire_aliases` (the keys
the generated upcaster reads those names from, where the domain's casing makes them
differ from the names), `value_aliases` (renamed
enum values), `schema_type` (the type name the schema wrote) and the field's rules
(`RULE_KEYS`: length, pattern, bounds). Rules are checked when an event or value is
made, never when a stored one is read (`from_data` checks types only), so changing
one changes no stored data and needs no version bump; the breaking-change check
compares them with the base schemas as a CODE rule. `wire_only` strips this
metadata. `EventShape.shape` is what the lock file records and `EventShape.hash`
what it compares.

Presence follows the generated `from_data` (see `model.py`):

- `required`: no default and `required: true`; a missing key or null fails.
- `default`: a default (a List without one defaults to `[]`); a missing key gives
  the default, null fails.
- `optional`: neither; a missing key or null gives None.

A field stored under another key than its name (`wire_name`, or the domain's
`wire_casing`: see `wirekeys`) carries that key as `wire_key`, part of the wire
shape: changing it changes the hash of every locked version that has the field.
Fields stored under their own name carry none, so their shapes are as before.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aggregen.generator.wirekeys import domain_casing, wire_key

__all__ = [
    "READER_KEYS",
    "RULE_KEYS",
    "AggregateShape",
    "CommandShape",
    "Document",
    "DomainShape",
    "EventShape",
    "KeyPath",
    "canonical_json",
    "domain_shapes",
    "fingerprint",
    "wire_only",
]

KeyPath = tuple[str | int, ...]

RULE_KEYS = frozenset({"min_length", "max_length", "pattern", "min", "max"})
"""Descriptor keys of a field's rules: checked when a value is made, not when one is read."""

READER_KEYS = frozenset({"aliases", "wire_aliases", "value_aliases", "schema_type"}) | RULE_KEYS
"""Descriptor keys that help readers and reviewers but are not part of the wire shape."""

_JSON_TYPES = {
    "String": "string",
    "Text": "string",
    "Identifier": "string",
    "Integer": "integer",
    "Float": "number",
    "Decimal": "string",
    "Boolean": "boolean",
    "Date": "string",
    "DateTime": "string",
    "Enum": "string",
    "List": "array",
    "Object": "object",
}
_CONSTRAINTS = {
    "String": ("min_length", "max_length", "pattern"),
    "Text": ("min_length", "max_length", "pattern"),
    "Integer": ("min", "max"),
    "Float": ("min", "max"),
    "Decimal": ("min", "max"),
}
_MAX_DEPTH = 32


class Document(Protocol):
    """What this module needs of a loaded schema document (`load.SchemaDocument`)."""

    @property
    def path(self) -> Path: ...

    @property
    def data(self) -> dict[str, Any]: ...

    def locate(self, key_path: Sequence[str | int]) -> tuple[int, int]: ...


def canonical_json(value: object) -> str:
    """`value` as canonical JSON: sorted keys, no spaces, UTF-8 text, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: object) -> str:
    """`sha256:` and the hex SHA-256 of `canonical_json(value)`."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


def wire_only(descriptor: Mapping[str, Any]) -> dict[str, Any]:
    """A field descriptor without its reader metadata (`READER_KEYS`), recursively."""
    result: dict[str, Any] = {}
    for key, value in descriptor.items():
        if key in READER_KEYS:
            continue
        if key == "items":
            value = wire_only(value)
        elif key == "fields":
            value = {name: wire_only(inner) for name, inner in value.items()}
        result[key] = value
    return result


@dataclass(frozen=True)
class EventShape:
    """One event of a schema at its current version, with its reader metadata."""

    domain: str
    aggregate: str
    name: str
    type_name: str
    version: int
    fields: Mapping[str, Mapping[str, Any]]
    """Field name -> full descriptor (with reader metadata)."""
    aliases: tuple[str, ...]
    """Earlier wire type names that still read as this event."""
    hand_written_upcast: tuple[int, ...]
    """Versions whose payloads a hand-written upcaster turns into current ones."""
    document: Document = field(compare=False, repr=False)
    key_path: KeyPath = field(compare=False)
    maps: Mapping[str, str | None] = field(default_factory=dict)
    """The event's `maps`: event field -> the state field it sets (None: none)."""

    @property
    def subject(self) -> str:
        """`domain.Aggregate.Event`."""
        return f"{self.domain}.{self.aggregate}.{self.name}"

    @property
    def wire_fields(self) -> dict[str, dict[str, Any]]:
        """Field name -> wire descriptor."""
        return {name: wire_only(spec) for name, spec in self.fields.items()}

    @property
    def shape(self) -> dict[str, Any]:
        """The wire shape recorded in the lock file: type, version and fields."""
        return {"type": self.type_name, "version": self.version, "fields": self.wire_fields}

    @property
    def hash(self) -> str:
        """The fingerprint of `shape`."""
        return fingerprint(self.shape)

    @property
    def definition_fingerprint(self) -> str:
        """A fingerprint of everything the schema says about the event's data.

        Unlike `hash` it covers reader metadata (aliases, rules, upcaster
        declarations), so an acceptance of a break stops applying when any of it
        changes.
        """
        definition: dict[str, Any] = {
            "name": self.name,
            "type": self.type_name,
            "version": self.version,
            "aliases": list(self.aliases),
            "hand_written_upcast": list(self.hand_written_upcast),
            "fields": self.fields,
        }
        if self.maps:  # only when set: earlier fingerprints stay as they were
            definition["maps"] = dict(self.maps)
        return fingerprint(definition)

    def wire_names(self) -> tuple[str, ...]:
        """The current wire type name and its aliases."""
        return (self.type_name, *self.aliases)


@dataclass(frozen=True)
class CommandShape:
    """A generated command method: its name, the event it raises, its kind."""

    name: str
    event: str
    creates: bool
    key_path: KeyPath


@dataclass(frozen=True)
class AggregateShape:
    """An aggregate: stream category, identifier, state, events and commands."""

    domain: str
    name: str
    category: str
    identifier_name: str
    identifier_type: str
    snapshot_threshold: int | None
    state: Mapping[str, Mapping[str, Any]]
    """State field name -> full descriptor (identifier excluded)."""
    events: tuple[EventShape, ...]
    commands: tuple[CommandShape, ...]
    document: Document = field(compare=False, repr=False)
    key_path: KeyPath = field(compare=False)

    @property
    def subject(self) -> str:
        """`domain.Aggregate`."""
        return f"{self.domain}.{self.name}"

    @property
    def snapshot_shape(self) -> dict[str, Any]:
        """What a stored snapshot of this aggregate holds."""
        return {name: wire_only(spec) for name, spec in self.state.items()}

    @property
    def definition_fingerprint(self) -> str:
        """A fingerprint of the aggregate's storage contract and generated API."""
        return fingerprint(
            {
                "name": self.name,
                "category": self.category,
                "identifier": [self.identifier_name, self.identifier_type],
                "state": self.state,
                "events": [event.definition_fingerprint for event in self.events],
                "commands": [[c.name, c.event, c.creates] for c in self.commands],
            }
        )

    def event_for_wire_type(self, type_name: str) -> EventShape | None:
        """The event that reads `type_name` (its current type or an alias)."""
        for event in self.events:
            if type_name == event.type_name:
                return event
        for event in self.events:
            if type_name in event.aliases:
                return event
        return None

    def event_named(self, name: str) -> EventShape | None:
        """The event whose schema name is `name`."""
        return next((event for event in self.events if event.name == name), None)

    def target(self, event: EventShape, field_name: str) -> str | None:
        """The state field that applying `event` sets from its field `field_name`, if any.

        As the generated apply code decides it: the field named in the event's `maps`
        (None there: no field), else the state field of the same name.
        """
        if field_name in event.maps:
            target = event.maps[field_name]
            return target if target in self.state else None
        return field_name if field_name in self.state else None


@dataclass(frozen=True)
class DomainShape:
    """The shapes of one schema document."""

    name: str
    document: Document = field(compare=False, repr=False)
    aggregates: tuple[AggregateShape, ...]

    def aggregate_named(self, name: str) -> AggregateShape | None:
        """The aggregate called `name`."""
        return next((a for a in self.aggregates if a.name == name), None)

    def aggregate_for(self, name: str, category: str) -> AggregateShape | None:
        """The aggregate writing to stream `category`, else the one called `name`.

        The category comes first: it is what stored streams are found by, so an
        aggregate renamed with its category kept is still the same aggregate.
        """
        found = next((a for a in self.aggregates if category and a.category == category), None)
        if found is None:
            found = self.aggregate_named(name)
        return found


def domain_shapes(documents: Iterable[Document]) -> dict[str, DomainShape]:
    """Domain name -> its shapes, for validated documents (one domain per document)."""
    result: dict[str, DomainShape] = {}
    for document in documents:
        domain = document.data.get("domain")
        if isinstance(domain, str) and domain not in result:
            result[domain] = _Shaper(document, domain).domain()
    return result


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _spec(raw: object) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"type": raw}
    return raw if isinstance(raw, dict) else {"type": "String"}


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _versions(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    found = {v for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return tuple(sorted(found))


def _int(value: object, fallback: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return fallback


def _value_aliases(value: object) -> dict[str, str]:
    return {str(old): new for old, new in _mapping(value).items() if isinstance(new, str)}


class _Shaper:
    """Builds the shapes of one document."""

    def __init__(self, document: Document, domain: str) -> None:
        self.document = document
        self.domain_name = domain
        data = document.data
        self.enums = _mapping(data.get("enums"))
        self.value_objects = _mapping(data.get("value_objects"))
        self.casing = domain_casing(data)

    def domain(self) -> DomainShape:
        aggregates = _mapping(self.document.data.get("aggregates"))
        return DomainShape(
            name=self.domain_name,
            document=self.document,
            aggregates=tuple(
                self._aggregate(name, _mapping(raw)) for name, raw in aggregates.items()
            ),
        )

    def _aggregate(self, name: str, raw: Mapping[str, Any]) -> AggregateShape:
        key_path: KeyPath = ("aggregates", name)
        raw_fields = _mapping(raw.get("fields"))
        identifier_name, identifier_type = "id", "Identifier"
        for field_name, field_raw in raw_fields.items():
            spec = _spec(field_raw)
            if spec.get("identifier") is True:
                identifier_name, identifier_type = field_name, str(spec.get("type"))
        state = {
            field_name: self._field(_spec(field_raw), state=True)
            for field_name, field_raw in raw_fields.items()
            if field_name != identifier_name
        }
        category = raw.get("category")
        if not isinstance(category, str):
            category = name[:1].lower() + name[1:]
        threshold = raw.get("snapshot_threshold")
        events = tuple(
            self._event(name, event_name, _mapping(event_raw))
            for event_name, event_raw in _mapping(raw.get("events")).items()
        )
        commands = tuple(
            CommandShape(
                name=command_name,
                event=str(_mapping(command_raw).get("event")),
                creates=_mapping(command_raw).get("creates") is True,
                key_path=(*key_path, "commands", command_name),
            )
            for command_name, command_raw in _mapping(raw.get("commands")).items()
        )
        return AggregateShape(
            domain=self.domain_name,
            name=name,
            category=category,
            identifier_name=identifier_name,
            identifier_type=identifier_type,
            snapshot_threshold=threshold
            if isinstance(threshold, int) and not isinstance(threshold, bool)
            else None,
            state=state,
            events=events,
            commands=commands,
            document=self.document,
            key_path=key_path,
        )

    def _event(self, aggregate: str, name: str, raw: Mapping[str, Any]) -> EventShape:
        type_name = raw.get("type")
        return EventShape(
            domain=self.domain_name,
            aggregate=aggregate,
            name=name,
            type_name=type_name if isinstance(type_name, str) else name,
            version=_int(raw.get("version"), 1),
            fields={
                field_name: self._field(_spec(field_raw), name=field_name)
                for field_name, field_raw in _mapping(raw.get("fields")).items()
            },
            aliases=tuple(_strings(raw.get("aliases"))),
            hand_written_upcast=_versions(raw.get("hand_written_upcast")),
            document=self.document,
            key_path=("aggregates", aggregate, "events", name),
            maps={
                str(key): value if isinstance(value, str) else None
                for key, value in _mapping(raw.get("maps")).items()
            },
        )

    def _field(
        self,
        spec: Mapping[str, Any],
        *,
        state: bool = False,
        depth: int = 0,
        name: str | None = None,
    ) -> dict[str, Any]:
        """The descriptor of a field; `name` given: one on the wire, under its wire key."""
        descriptor = self._type(spec, depth)
        if name is not None and not state:
            key = wire_key(name, spec, self.casing)
            if key != name:
                descriptor["wire_key"] = key
        default = spec.get("default")
        if default is not None:
            descriptor["presence"] = "default"
            descriptor["default"] = _normal_default(descriptor, default)
        elif descriptor["kind"] == "List":
            descriptor["presence"] = "default"
            descriptor["default"] = []
        elif spec.get("required") is True and not state:
            descriptor["presence"] = "required"
        else:
            descriptor["presence"] = "optional"
        aliases = _strings(spec.get("aliases"))
        if aliases:
            descriptor["aliases"] = aliases
            keys = [wire_key(alias, None, self.casing) for alias in aliases]
            if name is not None and not state and keys != aliases:
                descriptor["wire_aliases"] = keys
        return descriptor

    def _type(self, spec: Mapping[str, Any], depth: int) -> dict[str, Any]:
        schema_type = spec.get("type")
        schema_type = schema_type if isinstance(schema_type, str) else "String"
        if depth > _MAX_DEPTH:
            return {"kind": "Unknown", "json": "unknown", "schema_type": schema_type}
        if schema_type in self.enums:
            named = _mapping(self.enums[schema_type])
            descriptor: dict[str, Any] = {
                "kind": "Enum",
                "values": sorted(set(_strings(named.get("values")))),
            }
            aliases = _value_aliases(named.get("value_aliases"))
        elif schema_type in self.value_objects:
            fields = _mapping(_mapping(self.value_objects[schema_type]).get("fields"))
            descriptor = {
                "kind": "Object",
                "fields": {
                    name: self._field(_spec(raw), depth=depth + 1, name=name)
                    for name, raw in fields.items()
                },
            }
            aliases = {}
        else:
            kind = schema_type if schema_type in _JSON_TYPES else "Unknown"
            descriptor = {"kind": kind}
            for option in _CONSTRAINTS.get(kind, ()):
                if spec.get(option) is not None:
                    descriptor[option] = spec[option]
            if kind == "Enum":
                descriptor["values"] = sorted(set(_strings(spec.get("values"))))
            elif kind == "List":
                descriptor["items"] = self._type(_spec(spec.get("of") or "String"), depth + 1)
            aliases = _value_aliases(spec.get("value_aliases"))
        descriptor["json"] = _JSON_TYPES.get(descriptor["kind"], "unknown")
        descriptor["schema_type"] = schema_type
        if aliases:
            descriptor["value_aliases"] = aliases
        return descriptor


def _normal_default(descriptor: Mapping[str, Any], value: Any) -> Any:
    """A default in its wire form, so that equal defaults give equal shapes."""
    kind = descriptor["kind"]
    try:
        if kind == "Decimal" and not isinstance(value, bool):
            return str(decimal.Decimal(repr(value) if isinstance(value, float) else str(value)))
        if kind == "Float" and not isinstance(value, bool) and isinstance(value, int):
            return float(value)
        if kind == "Date":
            return datetime.date.fromisoformat(str(value)).isoformat()
        if kind == "DateTime":
            return datetime.datetime.fromisoformat(str(value)).isoformat()
    except (ValueError, decimal.InvalidOperation):
        return value
    return value
