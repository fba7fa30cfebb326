"""Validation, part 2: the base of the rules JSON Schema cannot say, on one document.

`DocumentCheck` holds the document being checked, its value objects, enums and
aggregates, and the errors found; the rules are layered on it, one concern per
module: names (`check_names`), evolution (`check_evolution`), fields
(`check_fields`), aggregates, events and commands (`check_aggregates`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .errors import SchemaError
from .load import KeyPath, SchemaDocument

__all__ = ["DocumentCheck", "did_you_mean", "field_spec", "type_key_path"]


def field_spec(raw: Any) -> dict[str, Any]:
    """A field in its long form: `Name` -> `{type: Name}`."""
    return raw if isinstance(raw, dict) else {"type": raw}


def type_key_path(path: KeyPath, raw: Any) -> KeyPath:
    """Where a field's type is written: the field itself (short form) or its `type` key."""
    return path if isinstance(raw, str) else (*path, "type")


class DocumentCheck:
    """One structurally valid document, and the errors found in it so far."""

    def __init__(self, document: SchemaDocument) -> None:
        self.document = document
        data = document.data
        self.value_objects: dict[str, Any] = data.get("value_objects") or {}
        self.enums: dict[str, Any] = data.get("enums") or {}
        self.aggregates: dict[str, Any] = data["aggregates"]
        self.errors: list[SchemaError] = []

    def _error(self, path: KeyPath, message: str) -> None:
        """Record an error at the key (or item) at `path`."""
        self.errors.append(self.document.error(path, message))

    def _value_error(self, path: KeyPath, message: str) -> None:
        """Record an error at the value at `path`."""
        self.errors.append(self.document.value_error(path, message))


def did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    """A hint naming the closest of `known` to `name`, or "" if none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
