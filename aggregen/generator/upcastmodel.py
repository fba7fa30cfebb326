"""Part of the model stage: the generated upcasters of events whose version went up.

An event at version N > 1 gets an `upcast(data, version)` class method that turns
the stored data of any older version into version N data, with steps that do not
depend on the version (each leaves current data as it is):

1. a field's value moves from an alias (an earlier name) to its current name, when
   the current name is absent;
2. an explicit null of a field that has a default is dropped, so the default applies;
3. renamed enum values are mapped (`value_aliases`), and steps 1 to 3 run inside
   value objects (through a private helper function per value object) and list items.

Dropped fields need nothing (`from_data` ignores unknown keys), nor do the widenings
(the decoders read the narrower wire forms). Versions the schema lists under
`hand_written_upcast` first go through `upcast_<event>(data, version)` in the
hand-written module `<aggregate>_upcasters.py`. Every schema string is `repr`-ed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .fieldtypes import field_spec
from .literals import literal
from .modeltypes import HandWrittenUpcaster, UpcastHelper, UpcastModel
from .naming import docstring, snake_case
from .wirekeys import DEFAULT_CASING, wire_key

__all__ = ["UpcastBuilder", "hand_written_versions"]

_MAX_DEPTH = 20


@dataclass(frozen=True)
class _Conversion:
    """How to convert a value known to be of JSON type `guard` (`str`, `dict`, `list`)."""

    guard: str
    apply: Callable[[str], str]

    def guarded(self, expr: str) -> str:
        """Convert `expr` when it has the guard's type, else leave it as it is."""
        return f"{self.apply(expr)} if isinstance({expr}, {self.guard}) else {expr}"


def hand_written_versions(raw_event: Mapping[str, Any]) -> tuple[int, ...]:
    """The versions a validated event lists under `hand_written_upcast`, ascending."""
    listed = raw_event.get("hand_written_upcast") or ()
    return tuple(sorted({v for v in listed if isinstance(v, int) and not isinstance(v, bool)}))


class UpcastBuilder:
    """Upcasters of one aggregate's events and the value object helpers they call."""

    def __init__(
        self,
        enum_aliases: Mapping[str, Mapping[str, str]],
        value_objects: Mapping[str, Mapping[str, Any]],
        upcasters_module: str,
        wire_casing: str = DEFAULT_CASING,
    ) -> None:
        self.enum_aliases = enum_aliases
        self.value_objects = value_objects
        self.upcasters_module = upcasters_module
        self.wire_casing = wire_casing
        self._helper_names: dict[str, str] = {}
        self._helper_steps: dict[str, tuple[str, ...]] = {}
        self._steps_of: dict[str, tuple[str, ...]] = {}
        self.hand_written: list[HandWrittenUpcaster] = []

    # -- events ----------------------------------------------------------------

    def event(self, name: str, raw: Mapping[str, Any], version: int) -> UpcastModel | None:
        """The upcaster of event `name` at `version`; None at version 1."""
        if version <= 1:
            return None
        fields = raw.get("fields")
        steps = self._steps(fields if isinstance(fields, dict) else {}, 0)
        versions = tuple(v for v in hand_written_versions(raw) if v < version)
        condition = call = ""
        function = f"upcast_{snake_case(name)}"
        if versions:
            condition = (
                f"version == {versions[0]}"
                if len(versions) == 1
                else f"version in {literal(versions)}"
            )
            call = f"data = {self.upcasters_module}.{function}(data, version)"
            listed = ", ".join(str(v) for v in versions)
            self.hand_written.append(
                HandWrittenUpcaster(
                    function=function,
                    event=name,
                    versions=versions,
                    docstring=docstring(
                        f"Turn stored {name} data of version {listed} into version {version} data.",
                        f"Called by {name}.upcast; the generated steps (aliases, value aliases, "
                        "defaults) run on what this returns.",
                        indent=4,
                    ),
                    body="raise NotImplementedError(f"
                    + literal(f"{name}: no upcaster from version {{version}} yet")
                    + ")",
                )
            )
        parts = [f"Stored {name} data of an older version, as version {version} reads it."]
        if versions:
            listed = ", ".join(str(v) for v in versions)
            parts.append(
                f"Version {listed} data first goes through the hand-written "
                f"`{function}` in {self.upcasters_module}.py."
            )
        if steps:
            parts.append(
                "Generated from the schema: earlier field names (`aliases`), renamed enum "
                "values (`value_aliases`), nulls of fields that now have a default."
            )
        return UpcastModel(
            docstring=docstring(*parts, indent=8),
            hand_written=condition,
            hand_written_call=call,
            steps=steps,
        )

    def helpers(self) -> tuple[UpcastHelper, ...]:
        """The value object helpers the upcasters built so far call, by value object name."""
        return tuple(
            UpcastHelper(
                name=self._helper_names[value_object],
                docstring=docstring(
                    f"Stored {value_object} data of an older version, as the current "
                    "version reads it.",
                    indent=4,
                ),
                steps=self._helper_steps[value_object],
            )
            for value_object in sorted(self._helper_names)
        )

    # -- steps -----------------------------------------------------------------

    def _steps(self, fields: Mapping[str, Any], depth: int) -> tuple[str, ...]:
        """Statements bringing the dict `data` with `fields` to the current version."""
        statements: list[str] = []
        casing = self.wire_casing
        keys = {name: wire_key(name, field_spec(raw), casing) for name, raw in fields.items()}
        for name, raw in fields.items():
            key = literal(keys[name])
            for alias in _strings(field_spec(raw).get("aliases")):
                old = literal(wire_key(alias, None, casing))
                statements.append(
                    f"if {key} not in data and {old} in data:\n    data[{key}] = data.pop({old})"
                )
        defaulted = tuple(
            keys[name] for name, raw in fields.items() if _has_default(field_spec(raw))
        )
        if defaulted:
            statements.append(
                f"for key in {literal(defaulted)}:\n"
                "    if key in data and data[key] is None:\n"
                "        del data[key]"
            )
        for name, raw in fields.items():
            conversion = self._conversion(field_spec(raw), depth)
            if conversion is not None:
                item = f"data[{literal(keys[name])}]"
                statements.append(
                    f"if isinstance(data.get({literal(keys[name])}), {conversion.guard}):\n"
                    f"    {item} = {conversion.apply(item)}"
                )
        return tuple(statements)

    def _conversion(self, spec: Mapping[str, Any], depth: int) -> _Conversion | None:
        """How a value of the field `spec` converts, or None when it needs nothing."""
        if depth > _MAX_DEPTH:
            return None
        kind = spec.get("type")
        if kind == "Enum":
            return _value_aliases(spec.get("value_aliases"))
        if isinstance(kind, str) and kind in self.enum_aliases:
            return _value_aliases(self.enum_aliases[kind])
        if isinstance(kind, str) and kind in self.value_objects:
            helper = self._helper(kind, depth)
            if helper is None:
                return None
            return _Conversion("dict", lambda expr: f"{helper}({expr})")
        if kind == "List":
            inner = self._conversion(field_spec(spec.get("of") or "String"), depth + 1)
            if inner is None:
                return None
            var = "item" if depth == 0 else f"item{depth}"
            return _Conversion("list", lambda expr: f"[{inner.guarded(var)} for {var} in {expr}]")
        return None

    def _helper(self, value_object: str, depth: int) -> str | None:
        """The name of the helper upcasting `value_object` data; None if none is needed."""
        found = self._helper_names.get(value_object)
        if found is not None:
            return found
        steps = self._steps_of.get(value_object)
        if steps is None:
            self._steps_of[value_object] = ()  # no value object contains itself
            fields = self.value_objects[value_object].get("fields")
            steps = self._steps(fields if isinstance(fields, dict) else {}, depth + 1)
            self._steps_of[value_object] = steps
        if not steps:
            return None
        name = _unique(f"_upcast_{snake_case(value_object)}", self._helper_names.values())
        self._helper_names[value_object] = name
        self._helper_steps[value_object] = steps
        return name


def _has_default(spec: Mapping[str, Any]) -> bool:
    """Whether a missing key reads as a default (a `default`, or a List: `[]`)."""
    return spec.get("default") is not None or spec.get("type") == "List"


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _value_aliases(raw: object) -> _Conversion | None:
    if not isinstance(raw, Mapping) or not raw:
        return None
    pairs = ", ".join(f"{literal(str(old))}: {literal(str(new))}" for old, new in raw.items())
    table = "{" + pairs + "}"
    return _Conversion("str", lambda expr: f"{table}.get({expr}, {expr})")


def _unique(name: str, taken: Iterable[str]) -> str:
    used = set(taken)
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name}_{number}", number + 1
    return candidate
