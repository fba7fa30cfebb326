"""Stage 2, validate: structure by JSON Schema, then the rules JSON Schema cannot say.

`validate` returns every problem as a `SchemaError` pointing at the key or value at
fault; semantic rules run on the documents whose structure is valid. The rules are
those of docs/schema-format.md.
"""

from __future__ import annotations

import builtins
import datetime
import decimal
import difflib
import functools
import importlib.resources
import json
import keyword
import re
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as JsonSchemaError

from aggregen.runtime.validation import INTEGER_MAX, INTEGER_MIN

from .errors import SchemaError, SchemaErrors
from .fieldtypes import type_shape
from .load import KeyPath, SchemaDocument, describe_value, load
from .namespace import RESERVED_IMPORTS
from .naming import enum_member_name, snake_case
from .storable import unstorable_text_errors
from .wirekeys import wire_key_errors

__all__ = [
    "BUILTIN_TYPES",
    "RESERVED_CLASS_NAMES",
    "RESERVED_DOMAIN_NAMES",
    "RESERVED_NAMES",
    "json_schema",
    "load_and_validate",
    "validate",
]

BUILTIN_TYPES = (
    "String",
    "Text",
    "Integer",
    "Float",
    "Decimal",
    "Boolean",
    "Date",
    "DateTime",
    "Identifier",
    "Enum",
    "List",
)
"""The field types every domain has, in the order the documentation lists them."""

_STRINGS = ("String", "Text")
_NUMBERS = ("Integer", "Float", "Decimal")
_OPTION_TYPES: Mapping[str, tuple[str, ...]] = {
    "max_length": _STRINGS,
    "min_length": _STRINGS,
    "pattern": _STRINGS,
    "min": _NUMBERS,
    "max": _NUMBERS,
    "values": ("Enum",),
    "value_aliases": ("Enum",),
    "of": ("List",),
}
_IDENTIFIER_TYPES = ("Identifier", "String", "Integer")

RESERVED_NAMES = frozenset(
    {
        # attributes and methods of the runtime's Aggregate and Event
        "apply",
        "category",
        "from_data",
        "id",
        "metadata",
        "pending_events",
        "raise_",
        "stream_name",
        "to_data",
        "type_name",
        # names generated methods use for themselves, and decorators of class bodies
        # (a class attribute of that name would hide the decorator below it)
        "classmethod",
        "cls",
        "property",
        "self",
        "staticmethod",
        # builtins and modules that generated code uses by name
        "bool",
        "bytes",
        "dataclasses",
        "datetime",
        "decimal",
        "dict",
        "enum",
        "float",
        "frozenset",
        "int",
        "isinstance",
        "len",
        "list",
        "object",
        "set",
        "str",
        "super",
        "tuple",
        "type",
        "typing",
        "uuid",
    }
)
"""snake_case names no field or command may take (`id` only as the identifier)."""

RESERVED_CLASS_NAMES = frozenset(
    {
        *BUILTIN_TYPES,
        *RESERVED_IMPORTS,
        "StrEnum",
        "UnitOfWork",
        *(name for name in dir(builtins) if name[:1].isupper()),
    }
)
"""PascalCase names no aggregate, event, value object or enum may take."""

_EVENT_METHODS = frozenset({"upcast"})
"""snake_case names no event field may take (methods of generated events)."""

_PYTHON_BUILTINS = frozenset(dir(builtins))

RESERVED_DOMAIN_NAMES = frozenset({"aggregen", *sys.stdlib_module_names})
"""Domain names that would shadow aggregen or a standard library module."""

_KIND_OF_CONTAINER: Mapping[str, Mapping[str, str]] = {
    "": {"aggregates": "aggregate", "value_objects": "value object", "enums": "enum"},
    "aggregate": {"fields": "field", "events": "event", "commands": "command"},
    "event": {"fields": "field", "maps": "'maps' entry"},
    "value object": {"fields": "field"},
}

_NAMED_BY_CONTAINER = {
    "aggregates": "aggregate",
    "value_objects": "value object",
    "enums": "enum",
    "events": "event",
    "fields": "field",
    "commands": "command",
    "maps": "event field",
}

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}

_NAME_RULES = {
    "^[A-Z][A-Za-z0-9]*$": "PascalCase (a capital letter, then letters and digits)",
    "^[a-z][a-z0-9_]*$": "snake_case (a lower-case letter, then lower-case letters, digits, '_')",
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the schema format (`aggregen/schema.json`), as a fresh dict."""
    result: dict[str, Any] = json.loads(_schema_text())
    return result


def validate(documents: Sequence[SchemaDocument]) -> list[SchemaError]:
    """Every problem of `documents`, sorted; `[]` when all are valid.

    Structure (JSON Schema) is checked first; the other rules of
    docs/schema-format.md on each document whose structure is valid. Never raises
    for any loaded document.
    """
    errors: list[SchemaError] = []
    domains: dict[str, SchemaDocument] = {}
    for document in sorted(documents, key=lambda d: str(d.path)):
        structural = _structure_errors(document)
        errors.extend(structural)
        if not structural:
            errors.extend(_Checker(document).check())
            errors.extend(wire_key_errors(document))
            errors.extend(unstorable_text_errors(document))
        domain = document.data.get("domain")
        if isinstance(domain, str):
            first = domains.setdefault(domain, document)
            if first is not document:
                message = f"domain {domain!r} is already defined in {first.path}"
                errors.append(document.value_error(("domain",), message))
    return sorted(set(errors))


def load_and_validate(paths: Sequence[str | Path]) -> list[SchemaDocument]:
    """Load (see `load.load`) and validate the schema files named by `paths`.

    Returns the documents, ordered by path. Raises `SchemaErrors` listing every
    problem when anything is wrong.
    """
    documents = load(paths)
    errors = validate(documents)
    if errors:
        raise SchemaErrors(errors)
    return documents


# -- structure -----------------------------------------------------------------


@functools.cache
def _schema_text() -> str:
    return importlib.resources.files("aggregen").joinpath("schema.json").read_text("utf-8")


def _is_integer(checker: object, instance: object) -> bool:
    """JSON Schema's "integer", but only a YAML integer: not `5.0`, not a boolean."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    """The schema's validator; an "integer" must be a real integer (JSON Schema takes 5.0)."""
    strict = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, type_checker=_STRICT_TYPES
    )
    validator: jsonschema.Draft202012Validator = strict(json_schema())
    return validator


def _structure_errors(document: SchemaDocument) -> list[SchemaError]:
    errors: list[SchemaError] = []
    for error in _validator().iter_errors(document.data):
        translated = list(_translate(document, error))
        if not translated:  # never let a structural error go unreported
            where = describe(tuple(error.absolute_path))
            translated = [document.value_error(error.absolute_path, f"{where}: {error.message}")]
        errors.extend(translated)
    return errors


def _translate(document: SchemaDocument, error: JsonSchemaError) -> Iterator[SchemaError]:
    """One JSON Schema error as `SchemaError`s, in words and at the node at fault."""
    path: KeyPath = tuple(error.absolute_path)
    instance = error.instance
    kind = error.validator
    where = describe(path)
    if "propertyNames" in error.absolute_schema_path:
        rule = _NAME_RULES.get(str(error.validator_value), "valid")
        label = _NAMED_BY_CONTAINER.get(str(path[-1]) if path else "", "")
        message = f"{label} name {instance!r} is not {rule}"
        yield document.error((*path, str(instance)), message)
    elif kind == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = list(schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield document.error((*path, key), _unknown_key(key, where, allowed))
    elif kind == "required" and isinstance(instance, dict):
        for key in _as_list(error.validator_value):
            if key not in instance:
                yield document.error(path, f"missing required key {key!r} in {where}")
    elif kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else _as_list(expected)
        if sorted(names) == ["object", "string"]:
            wanted = "a type name or a mapping"
        else:
            wanted = " or ".join(_JSON_TYPES.get(name, name) for name in names)
        message = f"{where} must be {wanted}, not {describe_value(instance)}"
        yield document.value_error(path, message)
    elif kind == "const" and path == ("format",):
        message = f"'format' must be 1 (the only schema format version), not {instance!r}"
        yield document.value_error(path, message)
    elif kind == "minimum":
        message = f"{where} must be at least {error.validator_value}, not {instance!r}"
        yield document.value_error(path, message)
    elif kind == "pattern":
        yield document.value_error(path, _pattern_message(path, instance))
    elif kind in ("minLength", "minItems", "minProperties"):
        yield document.value_error(path, f"{where} must not be empty")
    elif kind == "uniqueItems" and isinstance(instance, list):
        for index, item in enumerate(instance):
            if item in instance[:index]:
                message = f"duplicate value {item!r} in {where}"
                yield document.value_error((*path, index), message)
    else:  # a rule this module has no words for: JSON Schema's own
        yield document.value_error(path, f"{where}: {error.message}")


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _unknown_key(key: str, where: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(allowed)
    return f"unknown key {key!r} in {where} ({hint})"


def _pattern_message(path: KeyPath, value: object) -> str:
    if path == ("domain",):
        return (
            f"domain {value!r} is not a valid package name "
            "(a lower-case letter, then lower-case letters, digits, '_')"
        )
    if path[-1:] == ("category",):
        return (
            f"category {value!r} is not a valid stream category "
            "(a letter, then letters, digits, '_')"
        )
    if len(path) >= 2 and path[-2] == "aliases":
        return (
            f"field alias {value!r} is not snake_case "
            "(a lower-case letter, then lower-case letters, digits, '_')"
        )
    return f"{describe(path)} {value!r} has the wrong form"


def describe(path: Sequence[str | int]) -> str:
    """How an error names the node at `path`: "field 'name'", "'min' of field 'age'"."""
    kind, label = "", "the top level"
    index = 0
    while index < len(path):
        segment = path[index]
        child = _KIND_OF_CONTAINER.get(kind, {}).get(str(segment))
        if child is not None and index + 1 < len(path) and kind != "field":
            kind, label = child, f"{child} {path[index + 1]!r}"
            index += 2
            continue
        if kind == "field" and segment == "of":
            kind, label = "field", f"the item type of {label}"
            index += 1
            continue
        words = [
            f"item {part + 1}" if isinstance(part, int) else repr(part) for part in path[index:]
        ]
        text = " of ".join(reversed(words))
        return text if kind == "" else f"{text} of {label}"
    return label


# -- semantics -----------------------------------------------------------------


def _spec(raw: Any) -> dict[str, Any]:
    """A field in its long form: `Name` -> `{type: Name}`."""
    return raw if isinstance(raw, dict) else {"type": raw}


def _type_path(path: KeyPath, raw: Any) -> KeyPath:
    return path if isinstance(raw, str) else (*path, "type")


class _Checker:
    """The rules JSON Schema cannot express, on one structurally valid document."""

    def __init__(self, document: SchemaDocument) -> None:
        self.document = document
        data = document.data
        self.value_objects: dict[str, Any] = data.get("value_objects") or {}
        self.enums: dict[str, Any] = data.get("enums") or {}
        self.aggregates: dict[str, Any] = data["aggregates"]
        self.errors: list[SchemaError] = []

    def check(self) -> list[SchemaError]:
        self._domain()
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

    # -- names -----------------------------------------------------------------

    def _error(self, path: KeyPath, message: str) -> None:
        self.errors.append(self.document.error(path, message))

    def _value_error(self, path: KeyPath, message: str) -> None:
        self.errors.append(self.document.value_error(path, message))

    def _domain(self) -> None:
        domain = self.document.data["domain"]
        if keyword.iskeyword(domain) or keyword.issoftkeyword(domain):
            self._value_error(("domain",), f"domain {domain!r} is a Python keyword")
        elif domain in RESERVED_DOMAIN_NAMES:
            message = (
                f"domain {domain!r} is reserved: the package would shadow "
                f"{'aggregen' if domain == 'aggregen' else 'a standard library module'}"
            )
            self._value_error(("domain",), message)

    def _class_name(self, path: KeyPath, kind: str) -> bool:
        """Report a PascalCase name that Python or aggregen reserves; False if one is."""
        name = str(path[-1])
        if keyword.iskeyword(name):
            reason = "a Python keyword"
        elif name in BUILTIN_TYPES:
            reason = "a built-in field type"
        elif name in _PYTHON_BUILTINS:
            reason = "the name of a Python builtin"
        elif name in RESERVED_CLASS_NAMES:
            reason = "reserved by aggregen (generated code uses it)"
        else:
            return True
        self._error(path, f"{kind} name {name!r} is {reason}")
        return False

    def _member_name(self, path: KeyPath, kind: str, *, identifier: bool = False) -> bool:
        """Report a snake_case name that Python or aggregen reserves; False if one is."""
        name = str(path[-1])
        if keyword.iskeyword(name):
            message = f"{kind} name {name!r} is a Python keyword"
        elif keyword.issoftkeyword(name):
            message = f"{kind} name {name!r} is a Python soft keyword"
        elif name == "id":
            if identifier:
                return True
            if kind == "field" and path[0] == "aggregates" and len(path) == 4:
                message = (
                    "field name 'id' is reserved: mark the field 'identifier: true' or rename it"
                )
            else:
                message = f"{kind} name 'id' is reserved for the aggregate's identifier"
        elif name in RESERVED_NAMES:
            message = f"{kind} name {name!r} is reserved by aggregen (generated code uses it)"
        else:
            return True
        self._error(path, message)
        return False

    def _namespace(self) -> None:
        seen: dict[str, tuple[str, KeyPath]] = {}
        kinds = (
            ("value_objects", "value object"),
            ("enums", "enum"),
            ("aggregates", "aggregate"),
        )
        entries = [
            (self.document.locate((key, name)), (key, name), kind)
            for key, kind in kinds
            for name in self.document.data.get(key) or {}
        ]
        for _position, path, kind in sorted(entries):
            name = str(path[1])
            first = seen.get(name)
            if first is not None:
                self._error(path, f"{kind} {name!r} has the same name as {first[0]} {name!r}")
            else:
                seen[name] = (kind, path)
        modules: dict[str, str] = {}
        for name in self.aggregates:
            other = modules.setdefault(name.lower(), name)
            if other != name:
                message = (
                    f"aggregate {name!r} differs from aggregate {other!r} only in letter case "
                    "(their generated modules would clash)"
                )
                self._error(("aggregates", name), message)
        for name in self.aggregates:
            base = name.removesuffix("Behavior")
            if base != name and base.lower() in modules:
                owner = modules[base.lower()]
                message = (
                    f"aggregate {name!r} would generate module {snake_case(name)!r}, the "
                    f"hand-written behavior module of aggregate {owner!r}"
                )
                self._error(("aggregates", name), message)

    # -- fields ----------------------------------------------------------------

    def _field(self, path: KeyPath, raw: Any, *, item: bool = False) -> None:
        """Check one field (or, with `item`, a List's item type) and its options."""
        spec = _spec(raw)
        if not item:
            identifier = spec.get("identifier") is True
            self._member_name(path, "field", identifier=identifier)
        type_name = spec["type"]
        type_path = _type_path(path, raw)
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
        if type_name in _NUMBERS:
            self._bounds(path, spec, type_name)
        if type_name in _STRINGS:
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
                problem = _integer_range_problem(value)
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
        if pattern is not None and _compile(pattern) is None:
            message = (
                f"'pattern' {pattern!r} is not a valid regular expression: {_regex_error(pattern)}"
            )
            self._value_error((*path, "pattern"), message)

    def _default_problems(
        self, path: KeyPath, value: Any, spec: Mapping[str, Any], depth: int = 0
    ) -> Iterator[tuple[KeyPath, str]]:
        """Where and why `value` does not fit the field `spec` (nothing when it fits)."""
        type_name = spec["type"]
        problem = _scalar_problem(value, type_name, spec)
        if problem is not None:
            yield path, f"default {problem}"
        elif type_name == "List":
            if not isinstance(value, list):
                yield path, f"default must be a list, not {describe_value(value)}"
            elif "of" in spec and depth < 20:
                item = _spec(spec["of"])
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
                inner = _spec(fields[key])
                yield from self._default_problems((*path, key), element, inner, depth + 1)
        for key, raw in fields.items():
            inner = _spec(raw)
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
        spec = _spec(raw)
        yield spec["type"]
        if "of" in spec and depth < 20:
            yield from self._types_within(spec["of"], depth + 1)

    # -- aggregates ------------------------------------------------------------

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

    def _apply_methods(self, base: KeyPath, aggregate: dict[str, Any]) -> None:
        """`apply_<event>` methods: one per event, not the name of a field or command."""
        methods: dict[str, str] = {}
        for event_name in aggregate["events"]:
            method = f"apply_{snake_case(event_name)}"
            other = methods.setdefault(method, event_name)
            if other != event_name:
                message = (
                    f"event {event_name!r} would get the apply method {method!r} of event {other!r}"
                )
                self._error((*base, "events", event_name), message)
        for kind, key in (("field", "fields"), ("command", "commands")):
            for name in aggregate.get(key) or {}:
                if name in methods:
                    message = (
                        f"{kind} name {name!r} is the apply method of event {methods[name]!r} "
                        "(generated code uses it)"
                    )
                    self._error((*base, key, name), message)

    def _generated_names(self) -> None:
        """Names the generator makes must not be schema names: classes and modules."""
        made: dict[str, str] = {}
        for name in self.aggregates:
            made[f"{name}Base"] = f"the base class of aggregate {name!r}"
            made[f"{name}Repository"] = f"the repository of aggregate {name!r}"
        places: list[tuple[KeyPath, str]] = [
            *((("value_objects", n), "value object") for n in self.value_objects),
            *((("enums", n), "enum") for n in self.enums),
            *((("aggregates", n), "aggregate") for n in self.aggregates),
        ]
        for aggregate_name, aggregate in self.aggregates.items():
            places += [
                (("aggregates", aggregate_name, "events", n), "event") for n in aggregate["events"]
            ]
        events: dict[str, str] = {}
        for path, kind in sorted(places, key=lambda place: self.document.locate(place[0])):
            name = str(path[-1])
            if name in made:
                self._error(path, f"{kind} name {name!r} is {made[name]}")
            if kind == "event":
                first = events.setdefault(name, str(path[1]))
                if first != path[1]:
                    message = (
                        f"event {name!r} is also an event of aggregate {first!r} "
                        "(event names are unique within the domain)"
                    )
                    self._error(path, message)
        if self.value_objects or self.enums:
            for name in self.aggregates:
                if snake_case(name) == "values":
                    message = (
                        f"aggregate {name!r} would generate module 'values', the module of the "
                        "domain's value objects and enums"
                    )
                    self._error(("aggregates", name), message)

    def _identifier(self, base: KeyPath, fields: dict[str, Any]) -> None:
        first: str | None = None
        for field_name, raw in fields.items():
            spec = _spec(raw)
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
            if field_name in _EVENT_METHODS:
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

    # -- evolution -------------------------------------------------------------

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
            for index, alias in enumerate(_spec(raw).get("aliases") or ()):
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
                self._error(where, message + _did_you_mean(source, fields))
            if target is not None and target not in aggregate_fields:
                message = (
                    f"'maps' sends {source!r} to {target!r}, which is not a field of "
                    f"aggregate {path[1]!r}"
                )
                self._value_error(where, message + _did_you_mean(target, aggregate_fields))
            elif target is not None and _spec(aggregate_fields[target]).get("identifier") is True:
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
            if source in maps and _spec(aggregate_fields[target]).get("identifier") is True:
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
                + _did_you_mean(event, events)
            )
        self._value_error((*path, "event"), message)


def _did_you_mean(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


def _shape_text(raw: Any) -> str:
    spec = _spec(raw)
    if spec["type"] == "List" and "of" in spec:
        return f"List of {_shape_text(spec['of'])}"
    if spec["type"] == "Enum":
        return f"Enum of {', '.join(map(repr, spec.get('values') or ()))}"
    return str(spec["type"])


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def _regex_error(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    except (RecursionError, OverflowError, ValueError) as exc:
        return type(exc).__name__
    return "unknown problem"


def _scalar_problem(value: Any, type_name: str, spec: Mapping[str, Any]) -> str | None:
    """Why `value` cannot be a default of a built-in scalar type; None when it can."""
    if value is None:
        return "cannot be null (leave the field optional instead)"
    if type_name in _STRINGS:
        return _string_problem(value, spec)
    if type_name in _NUMBERS:
        return _number_problem(value, type_name, spec)
    if type_name == "Boolean" and not isinstance(value, bool):
        return f"must be true or false, not {describe_value(value)}"
    if type_name in ("Date", "DateTime"):
        parse = (
            datetime.date.fromisoformat if type_name == "Date" else datetime.datetime.fromisoformat
        )
        kind = "date (YYYY-MM-DD)" if type_name == "Date" else "date and time"
        if not isinstance(value, str):
            return f"must be an ISO 8601 {kind} string, not {describe_value(value)}"
        try:
            parse(value)
        except ValueError:
            return f"{value!r} is not an ISO 8601 {kind}"
    if type_name == "Identifier" and not (isinstance(value, str) and _is_canonical_uuid(value)):
        return f"must be a UUID in canonical form, not {describe_value(value)}"
    if type_name == "Enum":
        values = spec.get("values") or []
        if value not in values:
            return f"{value!r} is not one of the values {', '.join(map(repr, values))}"
    return None


def _string_problem(value: Any, spec: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {describe_value(value)}"
    low, high = spec.get("min_length"), spec.get("max_length")
    if low is not None and len(value) < low:
        return f"{value!r} is shorter than 'min_length' ({low})"
    if high is not None and len(value) > high:
        return f"{value!r} is longer than 'max_length' ({high})"
    pattern = spec.get("pattern")
    compiled = _compile(pattern) if isinstance(pattern, str) else None
    if compiled is not None and compiled.fullmatch(value) is None:
        return f"{value!r} does not match 'pattern'"
    return None


def _number_problem(value: Any, type_name: str, spec: Mapping[str, Any]) -> str | None:
    if isinstance(value, bool):
        number: decimal.Decimal | None = None
    elif type_name == "Integer":
        number = decimal.Decimal(value) if isinstance(value, int) else None
    elif type_name == "Float":
        number = decimal.Decimal(repr(value)) if isinstance(value, int | float) else None
    elif isinstance(value, float):
        return (
            f"of a Decimal field must be a string or an integer "
            f"(write '{value!r}' to keep it exact)"
        )
    else:
        number = _parse_decimal(value)
    if number is None:
        wanted = {"Integer": "an integer", "Float": "a number"}.get(type_name, "a decimal number")
        return f"must be {wanted}, not {describe_value(value)}"
    if type_name == "Integer":
        problem = _integer_range_problem(value)
        if problem is not None:
            return problem
    low, high = spec.get("min"), spec.get("max")
    if low is not None and number < decimal.Decimal(repr(low)):
        return f"{value!r} is less than 'min' ({low})"
    if high is not None and number > decimal.Decimal(repr(high)):
        return f"{value!r} is greater than 'max' ({high})"
    return None


def _integer_range_problem(value: int) -> str | None:
    """Why an Integer option or default does not fit the runtime's 64-bit integers."""
    if INTEGER_MIN <= value <= INTEGER_MAX:
        return None
    shown = str(value) if abs(value) < 10**30 else "a number that large"
    return f"{shown} does not fit in 64 bits (from {INTEGER_MIN} to {INTEGER_MAX})"


def _parse_decimal(value: Any) -> decimal.Decimal | None:
    if isinstance(value, int):
        return decimal.Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        number = decimal.Decimal(value.strip())
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
