"""The snapshot fingerprint: everything in a schema that decides an aggregate's state.

A snapshot holds the state that replaying a stream gave. It may only be used while
replaying the same stream would give the same state again, so the fingerprint
covers every input of that replay that the schema holds: the state fields (names,
types, enum values, defaults), and for each event its wire types, fields (types,
defaults, aliases, renamed enum values), whether earlier field names are read from
older versions, which versions a hand-written upcaster reads, and which state field
each event field sets (`maps`, explicit or by name). Descriptions, commands, field
rules, the snapshot threshold and a version number alone (the generated upcast
steps do not depend on it) are left out: they change no state.

The generated `_state_shape()` returns it; the runtime adds the source of the
apply code (generated and hand-written) before comparing it with a snapshot's; the
breaking-change check reports `SNAPSHOT_SHAPE_CHANGED` whenever it changes. All
three use `snapshot_fingerprint`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aggregen.review.wire_shape import (
    RULE_KEYS,
    AggregateShape,
    EventShape,
    domain_shapes,
    fingerprint,
)

__all__ = ["FORMAT", "domain_snapshot_fingerprints", "snapshot_fingerprint"]

FORMAT = 1
"""Raise it when the generator changes how events become state for unchanged schemas."""

_LEFT_OUT = RULE_KEYS | {"schema_type", "wire_aliases"}
"""Descriptor keys that decide no state: rules are checked when values are made, the
name of an enum or value object type never reaches the state, and the keys earlier
field names are read from follow from the aliases and the wire keys."""


def snapshot_fingerprint(aggregate: AggregateShape) -> str:
    """The fingerprint of what decides `aggregate`'s state from its events.

    Without state fields a snapshot holds nothing the events decide, so only the
    format counts then.
    """
    events = {event.name: _event(aggregate, event) for event in aggregate.events}
    return fingerprint(
        {
            "format": FORMAT,
            "state": {name: _decisive(spec) for name, spec in aggregate.state.items()},
            "events": events if aggregate.state else {},
        }
    )


def domain_snapshot_fingerprints(data: Mapping[str, Any]) -> dict[str, str]:
    """Aggregate name -> `snapshot_fingerprint`, for the data of one validated document."""
    shapes = domain_shapes([_Data(dict(data))])
    return {
        aggregate.name: snapshot_fingerprint(aggregate)
        for shape in shapes.values()
        for aggregate in shape.aggregates
    }


def _event(aggregate: AggregateShape, event: EventShape) -> dict[str, Any]:
    return {
        "types": [event.type_name, *event.aliases],
        # Older data is upcast from version 2 on, with steps that do not depend on the
        # version. Of those steps only moving a value from an earlier field name can
        # change the state that data read as before: renamed enum values and dropped
        # nulls apply only to data that did not read at all without them.
        "upcast_aliases": event.version > 1 and any(map(_aliased, event.fields.values())),
        "hand_written_upcast": [v for v in event.hand_written_upcast if v < event.version],
        "fields": {name: _decisive(spec) for name, spec in event.fields.items()},
        "sets": _copies(aggregate, event),
    }


def _copies(aggregate: AggregateShape, event: EventShape) -> dict[str, str]:
    """Event field -> the state field its generated apply method sets (as the model decides)."""
    raw = _at(aggregate.document.data, event.key_path)
    maps = raw.get("maps") if isinstance(raw, dict) else None
    maps = maps if isinstance(maps, dict) else {}
    copies = {}
    for name in event.fields:
        explicit = name in maps
        target = maps.get(name, name)
        if not isinstance(target, str) or target not in aggregate.state:
            continue
        if target == aggregate.identifier_name and not explicit:
            continue
        copies[name] = target
    return copies


def _aliased(spec: Mapping[str, Any]) -> bool:
    """Whether a field, or a field of its value object or list items, has earlier names."""
    if spec.get("aliases"):
        return True
    inner = [spec["items"]] if isinstance(spec.get("items"), dict) else []
    inner += list(spec["fields"].values()) if isinstance(spec.get("fields"), dict) else []
    return any(map(_aliased, inner))


def _decisive(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A field descriptor without the keys that decide no state, recursively."""
    result: dict[str, Any] = {}
    for key, value in spec.items():
        if key in _LEFT_OUT:
            continue
        if key == "items":
            value = _decisive(value)
        elif key == "fields":
            value = {name: _decisive(inner) for name, inner in value.items()}
        result[key] = value
    return result


def _at(data: object, key_path: Sequence[str | int]) -> object:
    for key in key_path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class _Data:
    """Document data as `domain_shapes` reads it (no file, no positions)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def path(self) -> Path:
        return Path()

    @property
    def data(self) -> dict[str, Any]:
        return self._data

    def locate(self, key_path: Sequence[str | int]) -> tuple[int, int]:
        return (0, 0)
