"""Validation: the evolution rules: earlier names of events, fields and enum values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .check_base import DocumentCheck, field_spec
from .load import KeyPath

__all__ = ["EvolutionChecks"]


class EvolutionChecks(DocumentCheck):
    """Aliases: none is a current name, none belongs to two; value aliases point at values."""

    def _event_aliases(
        self, base: KeyPath, events: dict[str, Any], wire_types: Mapping[str, str]
    ) -> None:
        """Earlier wire names: none is an event's current type or another event's alias."""
        seen: dict[str, str] = {}
        for name, event in events.items():
            for index, alias in enumerate(event.get("aliases") or ()):
                where: KeyPath = (*base, "events", name, "aliases", index)
                owner = wire_types.get(alias)
                if owner is not None:
                    whose = (
                        "its own current wire type"
                        if owner == name
                        else f"the current wire type of event {owner!r}"
                    )
                    message = f"event alias {alias!r} of {name!r} is {whose}"
                    self._value_error(where, message)
                    continue
                other = seen.setdefault(alias, name)
                if other != name:
                    message = (
                        f"event alias {alias!r} of {name!r} is already an alias of event {other!r}"
                    )
                    self._value_error(where, message)

    def _field_aliases(self, path: KeyPath, fields: dict[str, Any]) -> None:
        """Earlier field names: none is a current field's name or another field's alias."""
        seen: dict[str, str] = {}
        for name, raw in fields.items():
            for index, alias in enumerate(field_spec(raw).get("aliases") or ()):
                where: KeyPath = (*path, name, "aliases", index)
                if alias in fields:
                    whose = "its own name" if alias == name else f"the name of field {alias!r}"
                    self._value_error(where, f"field alias {alias!r} of {name!r} is {whose}")
                    continue
                other = seen.setdefault(alias, name)
                if other != name:
                    message = f"field alias {alias!r} of {name!r} is already an alias of {other!r}"
                    self._value_error(where, message)

    def _value_aliases(self, path: KeyPath, spec: Mapping[str, Any]) -> None:
        """`old: current` enum values: the old one is gone, the current one exists."""
        values = spec.get("values") or []
        for old, new in (spec.get("value_aliases") or {}).items():
            where: KeyPath = (*path, "value_aliases", old)
            if old in values:
                message = f"value alias {old!r} is a current value; only removed values are aliased"
                self._error(where, message)
            elif new not in values:
                message = (
                    f"value alias {old!r} maps to {new!r}, which is not one of the values "
                    f"{', '.join(map(repr, values))}"
                )
                self._value_error(where, message)
