"""Validation, part 1: the structure of a document, by the JSON Schema `schema.json`.

Every JSON Schema error is translated into a `SchemaError` in words, at the key or
value at fault. Patterns are read as JSON Schema's ECMA-262 reads them (`$` is the
end of the text, never before a final newline).
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as JsonSchemaError

from .errors import SchemaError
from .load import KeyPath, SchemaDocument, describe_value

__all__ = ["describe", "ecma_regex", "json_schema", "schema_validator", "structure_errors"]

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
    "^[A-Z][A-Za-z0-9]*$(?!\\n)": "PascalCase (a capital letter, then letters and digits)",
    "^[a-z][a-z0-9_]*$(?!\\n)": (
        "snake_case (a lower-case letter, then lower-case letters, digits, '_')"
    ),
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the schema format (`aggregen/schema.json`), as a fresh dict."""
    result: dict[str, Any] = json.loads(_schema_text())
    return result


@functools.cache
def _schema_text() -> str:
    return importlib.resources.files("aggregen").joinpath("schema.json").read_text("utf-8")


def _is_integer(checker: object, instance: object) -> bool:
    """JSON Schema's "integer", but only a YAML integer: not `5.0`, not a boolean."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)


@functools.lru_cache(maxsize=64)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled so that `$` means what JSON Schema's ECMA-262 says: the end.

    Python's `$` also matches before a final newline (`re.search("^[a-z]+$", "a\\n")`
    matches), which would let `"user\\n"` pass a name pattern: every `$` outside a
    character class becomes `\\Z`. Raises `re.error` for an invalid pattern.
    """
    pieces: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            pieces.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            start = index + 1
            if pattern[start : start + 1] == "^":
                start += 1
            if pattern[start : start + 1] == "]":  # a literal ']' first in the class
                pieces.append(pattern[index : start + 1])
                index = start + 1
                continue
        elif char == "$":
            char = r"\Z"
        pieces.append(char)
        index += 1
    return re.compile("".join(pieces))


def _pattern_keyword(
    validator: object, pattern: str, instance: object, schema: object
) -> Iterator[JsonSchemaError]:
    """JSON Schema's "pattern" keyword, read as ECMA-262 reads it (see `ecma_regex`)."""
    if isinstance(instance, str) and ecma_regex(pattern).search(instance) is None:
        yield JsonSchemaError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def schema_validator() -> jsonschema.Draft202012Validator:
    """The validator of `aggregen/schema.json`.

    An "integer" must be a real integer (JSON Schema takes 5.0), and "pattern" reads
    `$` as the end of the text (ECMA-262), not also before a final newline (Python).
    """
    strict = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator,
        validators={"pattern": _pattern_keyword},
        type_checker=_STRICT_TYPES,
    )
    validator: jsonschema.Draft202012Validator = strict(json_schema())
    return validator


def structure_errors(document: SchemaDocument) -> list[SchemaError]:
    errors: list[SchemaError] = []
    for error in schema_validator().iter_errors(document.data):
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
