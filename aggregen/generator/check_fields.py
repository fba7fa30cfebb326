"""Validation: the field rules: types, options, defaults, enums, value objects."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from .check_base import field_spec, type_key_path
from .check_evolution import EvolutionChecks
from .check_names import NameChecks
from .default_values import (
    NUMBERS,
    STRINGS,
    compile_pattern,
    integer_range_problem,
    regex_error,
    scalar_problem,
)
from .load import KeyPath, describe_value
from .naming import enum_member_name
from .reserved import BUILTIN_TYPES

__all__ = ["FieldChecks"]

_OPTION_TYPES: Mapping[str, tuple[str, ...]] = {
    "max_length": STRINGS,
    "min_length": STRINGS,
    "pattern": STRINGS,
    "min": NUMBERS,
    "max": NUMBERS,
    "values": ("Enum",),
    "value_aliases": ("Enum",),
    "of": ("List",),
}


class FieldChecks(NameChecks, EvolutionChecks):
    """Fields of aggregates, events and value objects; enums; value objects in cycles."""

    def _field(self, path: KeyPath, raw: Any, *, item: bool = False) -> None:
        """Check one field (or, with `item`, a List's item type) and its options."""
        spec = field_spec(raw)
        if not item:
            identifier = spec.get("identifier") is True
            self._member_name(path, "field", identifier=identifier)
        type_name = spec["type"]
        type_path = type_key_path(path, raw)
        if type_name not in BUILTIN_TYPES and not self._known_type(type_path, type_name):
            return
        for option, types in _OPTION_TYPES.items():
            if option in spec and type_name not in types:
                message = (
                    f"option {option!r} does not apply to type {type_name} "
                    f"(only to {', '.join(types)})"
                )
                if option == "value_aliases" and type_name in self.enums:
                    message += f"; give enum {type_name!r} its 'value_aliases' instead"
                self._error((*path, option), message)
        if type_name == "Enum" and "values" in spec:
            self._value_aliases(path, spec)
        if type_name == "Enum" and "values" not in spec:
            self._value_error(type_path, "type Enum needs 'values': the list of its values")
        if type_name == "List":
            if "of" in spec:
                self._field((*path, "of"), spec["of"], item=True)
            else:
                self._value_error(type_path, "type List needs 'of': the type of its items")
        if type_name in NUMBERS:
            self._bounds(path, spec, type_name)
        if type_name in STRINGS:
            self._lengths(path, spec)
        if "default" in spec:
            for where, message in self._default_problems((*path, "default"), spec["default"], spec):
                self._value_error(where, message)

    def _known_type(self, path: KeyPath, type_name: str) -> bool:
        if type_name in self.value_objects or type_name in self.enums:
            return True
        if type_name in self.aggregates:
            message = (
                f"aggregate {type_name!r} cannot be a field type "
                "(refer to an aggregate by its id: an Identifier field)"
            )
            self._value_error(path, message)
            return False
        known = [*BUILTIN_TYPES, *self.value_objects, *self.enums]
        close = difflib.get_close_matches(type_name, known, n=1, cutoff=0.6)
        close += [name for name in known if name.lower() == type_name.lower()]
        hint = f", did you mean {close[-1]!r}?" if close else ""
        message = (
            f"unknown type {type_name!r}{hint} (known: {', '.join(BUILTIN_TYPES)}; "
            "or a value object/enum of this domain)"
        )
        self._value_error(path, message)
        return False

    def _bounds(self, path: KeyPath, spec: Mapping[str, Any], type_name: str) -> None:
        for option in ("min", "max"):
            value = spec.get(option)
            if type_name == "Integer" and isinstance(value, float):
                message = f"{option!r} of an Integer field must be an integer, not {value!r}"
                self._value_error((*path, option), message)
            elif type_name == "Integer" and isinstance(value, int):
                problem = integer_range_problem(value)
                if problem is not None:
                    self._value_error((*path, option), f"{option!r} {problem}")
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None and low > high:
            self._value_error((*path, "max"), f"'max' ({high}) is less than 'min' ({low})")

    def _lengths(self, path: KeyPath, spec: Mapping[str, Any]) -> None:
        low, high = spec.get("min_length"), spec.get("max_length")
        if low is not None and high is not None and low > high:
            message = f"'max_length' ({high}) is less than 'min_length' ({low})"
            self._value_error((*path, "max_length"), message)
        pattern = spec.get("pattern")
        if pattern is not None and compile_pattern(pattern) is None:
            message = (
                f"'pattern' {pattern!r} is not a valid regular expression: {regex_error(pattern)}"
            )
            self._value_error((*path, "pattern"), message)

    def _default_problems(
        self, path: KeyPath, value: Any, spec: Mapping[str, Any], depth: int = 0
    ) -> Iterator[tuple[KeyPath, str]]:
        """Where and why `value` does not fit the field `spec` (nothing when it fits)."""
        type_name = spec["type"]
        problem = scalar_problem(value, type_name, spec)
        if problem is not None:
            yield path, f"default {problem}"
        elif type_name == "List":
            if not isinstance(value, list):
                yield path, f"default must be a list, not {describe_value(value)}"
            elif "of" in spec and depth < 20:
                item = field_spec(spec["of"])
                for index, element in enumerate(value):
                    yield from self._default_problems((*path, index), element, item, depth + 1)
        elif type_name in self.enums:
            values = self.enums[type_name]["values"]
            if value not in values:
                yield path, f"default {value!r} is not a value of enum {type_name!r}"
        elif type_name in self.value_objects:
            yield from self._value_object_default(path, value, type_name, depth)

    def _value_object_default(
        self, path: KeyPath, value: Any, type_name: str, depth: int
    ) -> Iterator[tuple[KeyPath, str]]:
        fields: dict[str, Any] = self.value_objects[type_name]["fields"]
        if not isinstance(value, dict):
            yield (
                path,
                f"default must be a mapping of {type_name}'s fields, not {describe_value(value)}",
            )
            return
        for key, element in value.items():
            if key not in fields:
                yield (*path, key), f"value object {type_name!r} has no field {key!r}"
            elif depth < 20:
                inner = field_spec(fields[key])
                yield from self._default_problems((*path, key), element, inner, depth + 1)
        for key, raw in fields.items():
            inner = field_spec(raw)
            if key not in value and inner.get("required") is True and "default" not in inner:
                yield path, f"default lacks the required field {key!r} of {type_name!r}"

    def _enum_members(self, path: KeyPath, values: list[str]) -> None:
        members: dict[str, str] = {}
        for index, value in enumerate(values):
            member = enum_member_name(value)
            if not member:
                message = f"enum value {value!r} has no letter or digit to name its member"
                self._value_error((*path, index), message)
                continue
            other = members.setdefault(member, value)
            if other != value:
                message = (
                    f"enum values {other!r} and {value!r} would both be named {member} "
                    "in the generated enum"
                )
                self._value_error((*path, index), message)

    def _value_object_cycles(self) -> None:
        graph: dict[str, list[tuple[str, str]]] = {
            name: [
                (field_name, target)
                for field_name, raw in value_object["fields"].items()
                for target in self._types_within(raw)
                if target in self.value_objects
            ]
            for name, value_object in self.value_objects.items()
        }
        for start, edges in graph.items():
            for field_name, target in edges:
                trail = _path_to(graph, target, start)
                if trail is not None:
                    steps = " -> ".join([f"{start}.{field_name}", *trail, start])
                    message = f"value object {start!r} contains itself: {steps}"
                    self._error(("value_objects", start, "fields", field_name), message)
                    break

    def _resolvable(self, raw: Any) -> bool:
        known = (*BUILTIN_TYPES, *self.value_objects, *self.enums)
        return all(name in known for name in self._types_within(raw))

    def _types_within(self, raw: Any, depth: int = 0) -> Iterator[str]:
        spec = field_spec(raw)
        yield spec["type"]
        if "of" in spec and depth < 20:
            yield from self._types_within(spec["of"], depth + 1)


def _path_to(graph: Mapping[str, list[tuple[str, str]]], start: str, goal: str) -> list[str] | None:
    """Steps `Name.field` from value object `start` to `goal`, or None if unreachable."""
    trail: dict[str, list[str]] = {start: []}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if current == goal:
            return trail[current]
        for field_name, target in graph.get(current, []):
            if target not in trail:
                trail[target] = [*trail[current], f"{current}.{field_name}"]
                queue.append(target)
    return None
