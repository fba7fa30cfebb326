"""The key of a field in stored JSON: its wire key.

By default a field is stored under its name. A domain may set `wire_casing:
camelCase` (the casing Eventide and most MessageDB clients write: `first_name` is
stored as `firstName`), and a field may name its key itself with `wire_name:`, which
wins over the casing. Field aliases (earlier names) are cased the same way. Aggregate
state fields are not on the wire: snapshots keep the Python names.

The model stage, the upcasters and the wire shapes recorded in the lock file all
take keys from here, so that what is written, read and reviewed is the same key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from .errors import SchemaError

__all__ = [
    "CASINGS",
    "DEFAULT_CASING",
    "camel_case",
    "domain_casing",
    "duplicate_wire_keys",
    "wire_key",
    "wire_key_errors",
]

DEFAULT_CASING = "snake_case"
CASINGS = (DEFAULT_CASING, "camelCase")
"""The values of `wire_casing`: keys as the field names are, or in camelCase."""


def camel_case(name: str) -> str:
    """`first_name` -> `firstName`, `line_2` -> `line2`; a name without `_` is unchanged."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def domain_casing(data: Mapping[str, Any]) -> str:
    """The `wire_casing` of a (validated) schema document, default `snake_case`."""
    casing = data.get("wire_casing")
    return casing if casing in CASINGS else DEFAULT_CASING


def wire_key(name: str, spec: object, casing: str) -> str:
    """The key the field `name` (with the field mapping `spec`) has in stored JSON."""
    if isinstance(spec, Mapping):
        explicit = spec.get("wire_name")
        if isinstance(explicit, str):
            return explicit
    return camel_case(name) if casing == "camelCase" else name


def duplicate_wire_keys(keys: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """`(field, key, earlier field)` for each field whose wire key an earlier field has.

    `keys` are `(field name, wire key)` pairs of one event or value object, in order.
    """
    seen: dict[str, str] = {}
    found = []
    for name, key in keys:
        if key in seen:
            found.append((name, key, seen[key]))
        else:
            seen[key] = name
    return found


class _Document(Protocol):
    """What `wire_key_errors` needs of a loaded schema document."""

    @property
    def data(self) -> dict[str, Any]: ...

    def error(self, key_path: Sequence[str | int], message: str) -> SchemaError: ...


def wire_key_errors(document: _Document) -> list[SchemaError]:
    """Fields of one event or value object that would be stored under the same key.

    For a document whose structure is valid (the JSON Schema checks `wire_casing` and
    `wire_name` themselves); each error points at the later field.
    """
    casing = domain_casing(document.data)
    errors = []
    for path, fields in _field_groups(document.data):
        keys = ((name, wire_key(name, spec, casing)) for name, spec in fields.items())
        for name, key, earlier in duplicate_wire_keys(keys):
            message = (
                f"field {name!r} is stored under the key {key!r}, as field {earlier!r} is: "
                "give one of them another `wire_name`"
            )
            errors.append(document.error((*path, name), message))
    return errors


def _field_groups(data: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(key path of a `fields` mapping, the mapping) for every value object and event."""
    for name, value_object in _mapping(data.get("value_objects")).items():
        yield ("value_objects", name, "fields"), _mapping(_mapping(value_object).get("fields"))
    for name, aggregate in _mapping(data.get("aggregates")).items():
        for event_name, event in _mapping(_mapping(aggregate).get("events")).items():
            path = ("aggregates", name, "events", event_name, "fields")
            yield path, _mapping(_mapping(event).get("fields"))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
