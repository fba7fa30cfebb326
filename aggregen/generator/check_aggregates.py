"""Validation: aggregates, their events and commands; `check_document` runs every rule."""

from __future__ import annotations

from typing import Any

from .check_base import did_you_mean, field_spec
from .check_fields import FieldChecks
from .errors import SchemaError
from .fieldtypes import type_shape
from .load import KeyPath, SchemaDocument
from .reserved import EVENT_METHODS

__all__ = ["check_document"]

_IDENTIFIER_TYPES = ("Identifier", "String", "Integer")


def check_document(document: SchemaDocument) -> list[SchemaError]:
    """Every problem that the rules JSON Schema cannot say find in `document`.

    `document` must be valid in structure (`structure.structure_errors` found nothing).
    """
    return AggregateChecks(document).check()


class AggregateChecks(FieldChecks):
    """The document's rules, from the top: names, enums, value objects, aggregates."""

    def check(self) -> list[SchemaError]:
        """Run every rule once; the errors found, in the order found."""
        self._domain()
        self._file_names()
        self._namespace()
        for name, enum in self.enums.items():
            self._class_name(("enums", name), "enum")
            self._enum_members(("enums", name, "values"), enum["values"])
            self._value_aliases(("enums", name), enum)
        for name, value_object in self.value_objects.items():
            self._class_name(("value_objects", name), "value object")
            for field_name, raw in value_object["fields"].items():
                self._field(("value_objects", name, "fields", field_name), raw)
            self._field_aliases(("value_objects", name, "fields"), value_object["fields"])
        self._value_object_cycles()
        categories: dict[str, str] = {}
        for name, aggregate in self.aggregates.items():
            self._class_name(("aggregates", name), "aggregate")
            self._aggregate(name, aggregate, categories)
        self._generated_names()
        return self.errors

    def _aggregate(self, name: str, aggregate: dict[str, Any], categories: dict[str, str]) -> None:
        base: KeyPath = ("aggregates", name)
        category = aggregate.get("category", name[:1].lower() + name[1:])
        other = categories.setdefault(category, name)
        if other != name:
            message = (
                f"aggregate {name!r} has the stream category {category!r} of aggregate {other!r}"
            )
            if "category" in aggregate:
                self._value_error((*base, "category"), message)
            else:
                self._error(base, message)
        fields: dict[str, Any] = aggregate.get("fields") or {}
        for field_name, raw in fields.items():
            self._field((*base, "fields", field_name), raw)
        self._identifier(base, fields)
        wire_types: dict[str, str] = {}
        for event_name, event in aggregate["events"].items():
            self._event(base, event_name, event, fields, wire_types)
        self._event_aliases(base, aggregate["events"], wire_types)
        for command_name, command in (aggregate.get("commands") or {}).items():
            self._command(base, command_name, command, fields)
        self._apply_methods(base, aggregate)

    def _identifier(self, base: KeyPath, fields: dict[str, Any]) -> None:
        first: str | None = None
        for field_name, raw in fields.items():
            spec = field_spec(raw)
            if spec.get("identifier") is not True:
                continue
            path = (*base, "fields", field_name)
            if first is not None:
                message = f"field {field_name!r} cannot be a second identifier: {first!r} is one"
                self._error((*path, "identifier"), message)
                continue
            first = field_name
            if spec["type"] not in _IDENTIFIER_TYPES:
                message = (
                    f"the identifier {field_name!r} must be of type Identifier, String or "
                    f"Integer, not {spec['type']}"
                )
                self._value_error((*path, "type"), message)
            if "default" in spec:
                self._error((*path, "default"), "the identifier cannot have a default")

    def _event(
        self,
        base: KeyPath,
        name: str,
        event: dict[str, Any],
        aggregate_fields: dict[str, Any],
        wire_types: dict[str, str],
    ) -> None:
        path: KeyPath = (*base, "events", name)
        self._class_name(path, "event")
        if name in self.value_objects or name in self.enums or name in self.aggregates:
            kind = (
                "value object"
                if name in self.value_objects
                else "enum"
                if name in self.enums
                else "aggregate"
            )
            self._error(path, f"event {name!r} has the same name as {kind} {name!r}")
        wire = event.get("type", name)
        other = wire_types.setdefault(wire, name)
        if other != name:
            message = f"wire type {wire!r} of event {name!r} is already that of event {other!r}"
            self._value_error((*path, "type") if "type" in event else path, message)
        fields: dict[str, Any] = event.get("fields") or {}
        for field_name, raw in fields.items():
            self._field((*path, "fields", field_name), raw)
            if field_name in EVENT_METHODS:
                message = (
                    f"field name {field_name!r} is reserved in events "
                    "(the generated event's class method)"
                )
                self._error((*path, "fields", field_name), message)
        self._field_aliases((*path, "fields"), fields)
        self._maps(path, event, fields, aggregate_fields)
        version = event.get("version", 1)
        for index, old in enumerate(event.get("hand_written_upcast") or ()):
            if old >= version:
                message = (
                    f"'hand_written_upcast' lists version {old}, which is not older than "
                    f"the event's version ({version})"
                )
                self._value_error((*path, "hand_written_upcast", index), message)

    def _maps(
        self,
        path: KeyPath,
        event: dict[str, Any],
        fields: dict[str, Any],
        aggregate_fields: dict[str, Any],
    ) -> None:
        maps: dict[str, str | None] = event.get("maps") or {}
        for source, target in maps.items():
            where: KeyPath = (*path, "maps", source)
            if source not in fields:
                message = f"'maps' names {source!r}, which is not a field of event {path[-1]!r}"
                self._error(where, message + did_you_mean(source, fields))
            if target is not None and target not in aggregate_fields:
                message = (
                    f"'maps' sends {source!r} to {target!r}, which is not a field of "
                    f"aggregate {path[1]!r}"
                )
                self._value_error(where, message + did_you_mean(target, aggregate_fields))
            elif (
                target is not None
                and field_spec(aggregate_fields[target]).get("identifier") is True
            ):
                message = (
                    f"'maps' sends {source!r} to the identifier {target!r}, which events do "
                    "not change (a creating command sets it); map it to another field or null"
                )
                self._value_error(where, message)
        receivers: dict[str, str] = {}
        for source, raw in fields.items():
            target = maps.get(source, source)
            if target is None or target not in aggregate_fields:
                continue
            if source in maps and field_spec(aggregate_fields[target]).get("identifier") is True:
                continue  # reported above
            where = (*path, "maps", source) if source in maps else (*path, "fields", source)
            locate = self._value_error if source in maps else self._error
            other = receivers.setdefault(target, source)
            if other != source:
                message = (
                    f"aggregate field {target!r} would receive both {other!r} and {source!r} "
                    f"of event {path[-1]!r}"
                )
                locate(where, message)
                continue
            target_raw = aggregate_fields[target]
            if not (self._resolvable(raw) and self._resolvable(target_raw)):
                continue
            if type_shape(raw) != type_shape(target_raw):
                message = (
                    f"event field {source!r} ({_shape_text(raw)}) is copied into aggregate "
                    f"field {target!r} ({_shape_text(aggregate_fields[target])}), a different "
                    "type; map it to another field or to null in 'maps'"
                )
                locate(where, message)

    def _command(
        self, base: KeyPath, name: str, command: dict[str, Any], fields: dict[str, Any]
    ) -> None:
        path: KeyPath = (*base, "commands", name)
        if self._member_name(path, "command") and name in fields:
            message = f"command {name!r} has the same name as a field of aggregate {base[1]!r}"
            self._error(path, message)
        event = command["event"]
        aggregate = str(base[1])
        events: dict[str, Any] = self.aggregates[aggregate]["events"]
        if event in events:
            return
        owners = [other for other, data in self.aggregates.items() if event in data["events"]]
        if owners:
            message = (
                f"command {name!r} raises event {event!r} of aggregate {owners[0]!r}; "
                f"a command raises an event of its own aggregate ({base[1]!r})"
            )
        else:
            message = (
                f"command {name!r} raises unknown event {event!r} "
                f"(events of aggregate {base[1]!r}: {', '.join(events)})"
                + did_you_mean(event, events)
            )
        self._value_error((*path, "event"), message)


def _shape_text(raw: Any) -> str:
    spec = field_spec(raw)
    if spec["type"] == "List" and "of" in spec:
        return f"List of {_shape_text(spec['of'])}"
    if spec["type"] == "Enum":
        return f"Enum of {', '.join(map(repr, spec.get('values') or ()))}"
    return str(spec["type"])
