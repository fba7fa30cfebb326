"""What differs between two wire shapes of one event version, in words.

A locked event version whose shape changed in place (`lock.check_lock`) is named
with each difference: a field added or removed, a changed type, wire key, presence
(required, optional, a default), default or enum values, down into list items and
value object fields (`'address.street'`, `'tags[]'`). Unlike the STORAGE rules
(`fields.compare_fields`) it leaves out nothing an upcaster could handle: any
difference changes the shape, and every one is listed. Field descriptors are
`wire_shape` descriptors without reader metadata (`wire_only`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .wire_shape import canonical_json

__all__ = ["shape_differences"]

_KNOWN = frozenset({"kind", "json", "values", "items", "fields", "wire_key", "presence", "default"})
"""Descriptor keys described one by one; a difference in any other is named by its key."""


def shape_differences(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]], prefix: str = ""
) -> list[str]:
    """Each difference between the fields `old` and `new`, field by field in name order.

    `prefix` is the dotted path of the field holding them ("" at the top).
    """
    differences: list[str] = []
    for name in sorted({*old, *new}):
        shown = prefix + name
        if name not in old:
            differences.append(f"field {shown!r} added {_added(new[name])}")
        elif name not in new:
            differences.append(f"field {shown!r} removed")
        else:
            differences.extend(_field(old[name], new[name], shown))
    return differences


def _added(spec: Mapping[str, Any]) -> str:
    presence = spec.get("presence")
    if presence == "default":
        return f"with the default {_value(spec.get('default'))}"
    return f"as {presence or 'optional'}"


def _value(value: Any) -> str:
    return canonical_json(value)


def _field(old: Mapping[str, Any], new: Mapping[str, Any], shown: str) -> list[str]:
    differences = []
    if old.get("wire_key") != new.get("wire_key"):
        before = old.get("wire_key", shown.rpartition(".")[2])
        after = new.get("wire_key", shown.rpartition(".")[2])
        differences.append(f"field {shown!r} changed its wire key from {before!r} to {after!r}")
    was, now = old.get("presence"), new.get("presence")
    if was != now and now == "default":
        differences.append(
            f"field {shown!r} was {was} and now has the default {_value(new.get('default'))}"
        )
    elif was != now and was == "default":
        differences.append(
            f"field {shown!r} had the default {_value(old.get('default'))} and is now {now}"
        )
    elif was != now:
        differences.append(f"field {shown!r} was {was} and is now {now}")
    elif old.get("default") != new.get("default"):
        differences.append(
            f"field {shown!r} changed its default from {_value(old.get('default'))} to "
            f"{_value(new.get('default'))}"
        )
    differences.extend(_type(old, new, shown))
    return differences


def _type(old: Mapping[str, Any], new: Mapping[str, Any], shown: str) -> list[str]:
    """Differences of kind, enum values, list items, value object fields, other keys."""
    before, after = old.get("kind"), new.get("kind")
    if before != after:
        return [f"field {shown!r} changed type from {before} to {after}"]
    differences = []
    if old.get("values") != new.get("values"):
        was, now = list(old.get("values") or []), list(new.get("values") or [])
        gained = [v for v in now if v not in was]
        lost = [v for v in was if v not in now]
        for verb, values in (("gained", gained), ("lost", lost)):
            if values:
                listed = ", ".join(repr(v) for v in values)
                plural = "s" if len(values) > 1 else ""
                differences.append(f"field {shown!r} {verb} the enum value{plural} {listed}")
    if old.get("items") != new.get("items"):
        differences.extend(_type(old.get("items") or {}, new.get("items") or {}, shown + "[]"))
    if old.get("fields") != new.get("fields"):
        differences.extend(
            shape_differences(old.get("fields") or {}, new.get("fields") or {}, shown + ".")
        )
    for key in sorted({*old, *new} - _KNOWN):
        if old.get(key) != new.get(key):
            differences.append(
                f"field {shown!r} changed {key} from {_value(old.get(key))} to "
                f"{_value(new.get(key))}"
            )
    return differences
