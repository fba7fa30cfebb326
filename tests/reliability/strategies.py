"""Hypothesis strategies for schemas: valid ones per docs/schema-format.md, and broken ones.

`valid_schemas()` draws whole domains (1-3 aggregates, value objects, named enums,
every field type with random valid options, events with `maps`, commands, categories,
snapshot thresholds, identifiers of each kind) whose free strings come partly from
`ATTACKS`. Each comes with the calls that create an aggregate of it, with values
that fit every field's rules, so that tests can run the generated code.

`invalid_schemas()` takes a valid schema and breaks it in one way that the
documentation says is an error; the result is YAML text.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import keyword
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

from aggregen.generator.naming import enum_member_name, snake_case
from aggregen.generator.validate import (
    BUILTIN_TYPES,
    RESERVED_CLASS_NAMES,
    RESERVED_DOMAIN_NAMES,
    RESERVED_NAMES,
)
from aggregen.runtime.validation import INTEGER_MAX, INTEGER_MIN

__all__ = [
    "ATTACKS",
    "TALLY",
    "Creation",
    "InvalidSchema",
    "ValidSchema",
    "Value",
    "build_value",
    "free_text",
    "invalid_schemas",
    "valid_schemas",
    "yaml_text",
]

Draw = Callable[[st.SearchStrategy[Any]], Any]

TALLY: dict[str, int] = {"valid": 0, "invalid": 0, "valid via CLI": 0, "invalid via CLI": 0}
"""How many schemas the property tests ran, by kind; printed at the end of the session."""

ATTACKS: tuple[str, ...] = (
    '"',
    "'",
    '"""',
    "'''",
    "\"\"\"'''",
    'x"',
    "\\",
    "\\\\",
    "\\x",
    "\\N{",
    "\\\n",
    "trailing \\",
    "line\nbreak",
    "cr\ronly",
    "crlf\r\n",
    "line\u2028separator",
    "para\u2029separator",
    "next\x85line",
    "nul\x00byte",
    "del\x7fbell\x07escape\x1b[31m",
    "tab\tvertical\x0bfeed\x0c",
    "bom\ufeff",
    "rtl\u202eoverride",
    "zero\u200bwidth\u200djoiner",
    "combining e\u0301",
    "é ✓ 漢字 🙂 👩‍👩‍👧",
    "{{ 7 * 7 }}",
    "{% if true %}x{% endif %}",
    "{%- raw %}{{{%- endraw %}",
    "{# comment #}",
    '"""; import os #',
    '"""; import os; os.system("id") #',
    "'''; import os; os.system('id') #",
    '"); import os; os.system("id") #',
    "\n#",
    "# not a comment",
    "${HOME} %s %(x)s {0}",
    "__import__('os').system('id')",
    "None",
    "-",
    ":",
    "- item",
    "? key",
    "&anchor *alias !tag",
    "x" * 5000,
    '"' * 300,
    "\\" * 301,
    "\n" * 50,
    " leading and trailing ",
)
"""Strings that could break generated code if they were pasted into it unescaped."""

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


def _word(first: str, rest: str, max_rest: int, min_rest: int = 0) -> st.SearchStrategy[str]:
    """A character of `first`, then `min_rest` to `max_rest` of `rest`: a regex such as
    `[a-z][a-z0-9_]{0,10}`, drawn several times faster than `st.from_regex` draws it."""
    head = st.sampled_from(first) if first else st.just("")
    tail = st.text(alphabet=rest, min_size=min_rest, max_size=max_rest)
    return st.tuples(head, tail).map("".join)


_TEXT = st.text(max_size=30)
_WORDS = _word(_LOWER + _UPPER, _LOWER + _UPPER + _DIGITS + " ", 12)


_FREE_TEXT = st.one_of(st.sampled_from(ATTACKS), _TEXT, _WORDS)


def _storable(text: str) -> str:
    """`text` with `\\x00` for a NUL: no store holds one (a schema error where stored)."""
    return text.replace("\x00", "\\x00")


_STORED_TEXT = _FREE_TEXT.map(_storable)
"""Free text for positions that reach the store: defaults, values, wire type names."""
_NON_EMPTY_TEXT = _STORED_TEXT.filter(bool)
_ENUM_VALUES = st.lists(_NON_EMPTY_TEXT, min_size=1, max_size=4, unique=True)


def free_text() -> st.SearchStrategy[str]:
    """Any string: the attack corpus, random unicode, or ordinary words."""
    return _FREE_TEXT


# -- names ---------------------------------------------------------------------

# Documented rules the strategies do not model per position: `upcast` is reserved for
# event fields only, an aggregate named `Values` only beside value objects or enums.
_RESERVED_IN_PLACES = frozenset({"upcast", "Values"})

_SNAKE_POOL = (
    "check",
    "check_value",
    "raise_errors",
    "decimal_from_data",
    "data",
    "state",
    "event",
    "errors",
    "aggregate",
    "new_aggregate",
    "created",
    "instance",
    "item",
    "item1",
    "value",
    "values",
    "name",
    "items",
    "keys",
    "copy",
    "replace",
    "fields",
    "field",
    "print",
    "version",
    "store",
    "repository",
    "annotations",
    "none",
    "true",
    "dataclass",
    "literal",
    "any",
    "self_",
    "cls_",
    "id_",
    "metadata_",
    "x",
    "a1",
    "z_",
    "a__b",
)
_PASCAL_POOL = (
    "A",
    "TextRule",
    "ValidationError",
    "X1",
    "Rule",
    "Check",
    "Optional",
    "Path",
    "Mapping",
    "Sequence",
    "Callable",
    "UUID",
    "Annotations",
    "Dataclass",
    "InMemoryEventStore",
    "Py",
    "Init",
    "Main",
    "Field",
    "Data",
    "State",
    "HTTPServer",
    "ABc",
)


def _snake_ok(name: str) -> bool:
    return not (
        keyword.iskeyword(name)
        or keyword.issoftkeyword(name)
        or name in RESERVED_NAMES
        or name in _RESERVED_IN_PLACES
        or name.startswith("apply_")
    )


def _pascal_ok(name: str) -> bool:
    return not (
        keyword.iskeyword(name)
        or keyword.iskeyword(snake_case(name))  # an aggregate `OR` would be module `or`
        or name in RESERVED_CLASS_NAMES
        or name in _RESERVED_IN_PLACES
        or name.endswith(("Base", "Repository", "Behavior"))
    )


SNAKE_NAMES = st.one_of(
    st.sampled_from(_SNAKE_POOL), _word(_LOWER, _LOWER + _DIGITS + "_", 10)
).filter(_snake_ok)
PASCAL_NAMES = st.one_of(
    st.sampled_from(_PASCAL_POOL), _word(_UPPER, _LOWER + _UPPER + _DIGITS, 10)
).filter(_pascal_ok)
_CATEGORY_PREFIXES = _word(_LOWER + _UPPER, _LOWER + _UPPER + _DIGITS + "_", 20)
DOMAIN_NAMES = _word(_LOWER, _LOWER + _DIGITS + "_", 8).filter(
    lambda n: (
        not keyword.iskeyword(n) and not keyword.issoftkeyword(n) and n not in RESERVED_DOMAIN_NAMES
    )
)


def _fresh(draw: Draw, names: st.SearchStrategy[str], taken: set[str]) -> str:
    """A name not in `taken` (compared in lower case too), added to it."""
    lowered = {t.lower() for t in taken}
    name: str = draw(names)
    if name in taken or name.lower() in lowered:
        name = draw(names)
    number = 2
    base = name
    while name in taken or name.lower() in lowered:
        name = f"{base}{number}"
        number += 1
    taken.add(name)
    return name


# -- values --------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A value that fits a field: as written in YAML (a default) and as Python."""

    literal: Any
    kind: str = "plain"
    """plain, float, decimal, date, datetime, enum, object or list."""
    type_name: str = ""
    items: tuple[Value, ...] = ()
    fields: tuple[tuple[str, Value], ...] = ()


def build_value(value: Value, module: Any) -> Any:
    """The Python object for `value`; enums and value objects come from `module`."""
    if value.kind == "float":
        return float(value.literal)
    if value.kind == "decimal":
        return decimal.Decimal(str(value.literal).strip())
    if value.kind == "date":
        return datetime.date.fromisoformat(value.literal)
    if value.kind == "datetime":
        return datetime.datetime.fromisoformat(value.literal)
    if value.kind == "enum":
        return getattr(module, value.type_name)(value.literal)
    if value.kind == "object":
        cls = getattr(module, value.type_name)
        return cls(**{name: build_value(v, module) for name, v in value.fields})
    if value.kind == "list":
        return [build_value(item, module) for item in value.items]
    return value.literal


@dataclass
class _Field:
    raw: Any
    example: Value
    required: bool
    has_default: bool


@dataclass
class _Context:
    enums: dict[str, list[str]] = field(default_factory=dict)
    value_objects: dict[str, dict[str, _Field]] = field(default_factory=dict)


# (pattern, strings that match it in full)
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("[A-Z]+[0-9]*", ("AB12", "Z")),
    (r"\d{3}-\d{2}", ("123-45",)),
    ("(?s).*", ('"""; import os #', "line\nbreak", "")),
    ("[^\"'\\\\]*", ("no quotes", "")),
    (r"\"\"\"|'''", ('"""', "'''")),
    (r"\\+", ("\\", "\\\\\\")),
    ("[a-z]{2,5}", ("abc", "zz")),
    ("é+ ✓?", ("éé ✓", "é ")),
    (r"\{\{ x \}\}|\{% x %\}", ("{{ x }}", "{% x %}")),
    ("(?i)yes|no", ("YES", "no")),
    (".{0,3}\u2028.*", ("ab\u2028cd",)),
)
_SAFE_IDS = _word("", _LOWER + _UPPER + _DIGITS, 12, min_rest=1)
_DATES = ("2024-02-29", "20240229", "0001-01-01", "9999-12-31", "2024-W01-1", "1970-01-01")
_DATETIMES = (  # a default names its timezone: a naive date-time is an error
    "2024-01-01T10:00:00+00:00",
    "2024-01-01T10:00:00+05:30",
    "2024-01-01 10:00Z",
    "2024-01-01T00:00:00.5-03:00",
    "2024-02-29T23:59:59.999999Z",
    "1999-12-31T23:59:59-12:00",
)


def _string_field(draw: Draw, spec: dict[str, Any], identifier: bool) -> Value:
    if identifier:
        sample: str = draw(_SAFE_IDS)
        if draw(st.booleans()):
            spec["pattern"] = "[A-Za-z0-9]+"
    elif draw(st.booleans()):
        pattern, samples = draw(st.sampled_from(_PATTERNS))
        spec["pattern"] = pattern
        sample = draw(st.sampled_from(samples))
    else:
        sample = draw(_STORED_TEXT)
    if draw(st.booleans()):
        spec["min_length"] = draw(st.integers(0, len(sample)))
    if draw(st.booleans()):
        spec["max_length"] = draw(st.integers(len(sample), len(sample) + 20))
    return Value(sample)


def _integer_field(draw: Draw, spec: dict[str, Any], identifier: bool) -> Value:
    limit = 10**6 if identifier else INTEGER_MAX
    low = 0 if identifier else INTEGER_MIN
    number: int = draw(st.integers(low, limit) | st.sampled_from([0, 1, low, limit]))
    if draw(st.booleans()):
        spec["min"] = draw(st.integers(low, number))
    if draw(st.booleans()):
        spec["max"] = draw(st.integers(number, min(number + 10**6, INTEGER_MAX)))
    return Value(number)


_FLOATS = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1e-300, 0.1, 2.5e-05]
)


def _float_field(draw: Draw, spec: dict[str, Any]) -> Value:
    number: float = draw(_FLOATS)
    if draw(st.booleans()):
        spec["min"] = draw(st.sampled_from([v for v in (number, -1e13, -1) if v <= number]))
    if draw(st.booleans()):
        spec["max"] = draw(st.sampled_from([v for v in (number, 1e13, 10**13) if v >= number]))
    literal = (
        int(number)
        if number.is_integer() and abs(number) < 1e15 and draw(st.booleans())
        else number
    )
    return Value(literal, "float")


def _decimal_field(draw: Draw, spec: dict[str, Any]) -> Value:
    digits = draw(st.integers(-(10**15), 10**15))
    exponent = draw(st.integers(-6, 3))
    number = decimal.Decimal(digits).scaleb(exponent)
    if draw(st.booleans()):
        spec["min"] = int(number.to_integral_value(decimal.ROUND_FLOOR)) - draw(st.integers(0, 9))
    if draw(st.booleans()):
        spec["max"] = int(number.to_integral_value(decimal.ROUND_CEILING)) + draw(st.integers(0, 9))
    form = draw(st.sampled_from(["text", "padded", "int"]))
    if form == "int" and number == number.to_integral_value():
        literal: Any = int(number)
    elif form == "padded":
        literal = f" {number} "
    else:
        literal = str(number)
    return Value(literal, "decimal")


def _field(
    draw: Draw,
    context: _Context,
    depth: int = 0,
    *,
    item: bool = False,
    identifier: bool = False,
) -> _Field:
    """One field (or, with `item`, a List's item type) with an example value."""
    if identifier:
        kinds: list[str] = ["Identifier", "String", "Integer"]
    else:
        kinds = [*BUILTIN_TYPES, *context.enums, *context.value_objects]
        if depth >= 2:
            kinds.remove("List")
    kind: str = draw(st.sampled_from(kinds))
    spec: dict[str, Any] = {"type": kind}
    if kind in ("String", "Text"):
        example = _string_field(draw, spec, identifier)
    elif kind == "Integer":
        example = _integer_field(draw, spec, identifier)
    elif kind == "Float":
        example = _float_field(draw, spec)
    elif kind == "Decimal":
        example = _decimal_field(draw, spec)
    elif kind == "Boolean":
        example = Value(draw(st.booleans()))
    elif kind == "Date":
        example = Value(draw(st.sampled_from(_DATES)), "date")
    elif kind == "DateTime":
        example = Value(draw(st.sampled_from(_DATETIMES)), "datetime")
    elif kind == "Identifier":
        example = Value(str(draw(st.uuids())))
    elif kind == "Enum":
        values: list[str] = draw(_ENUM_VALUES)
        spec["values"] = values
        example = Value(draw(st.sampled_from(values)))
    elif kind == "List":
        inner = _field(draw, context, depth + 1, item=True)
        spec["of"] = inner.raw
        count = draw(st.integers(0, 2))
        items = tuple([inner.example] * count)
        example = Value([i.literal for i in items], "list", items=items)
    elif kind in context.enums:
        value = draw(st.sampled_from(context.enums[kind]))
        example = Value(value, "enum", kind)
    else:
        example = _object_example(draw, kind, context.value_objects[kind])
    required = False
    has_default = False
    if not item:
        if not identifier and draw(st.integers(0, 3)) == 0:
            spec["default"] = example.literal
            has_default = True
        if draw(st.booleans()):
            required = draw(st.booleans())
            spec["required"] = required
        if identifier:
            spec["identifier"] = True
    if draw(st.integers(0, 3)) == 0:
        spec["description"] = draw(free_text())
    raw: Any = kind if list(spec) == ["type"] and draw(st.booleans()) else spec
    return _Field(raw, example, required, has_default)


def _object_example(draw: Draw, name: str, fields: dict[str, _Field]) -> Value:
    chosen = []
    for field_name, spec in fields.items():
        if (spec.required and not spec.has_default) or draw(st.booleans()):
            chosen.append((field_name, spec.example))
    literal = {field_name: value.literal for field_name, value in chosen}
    return Value(literal, "object", name, fields=tuple(chosen))


# -- whole schemas -------------------------------------------------------------


@dataclass(frozen=True)
class Creation:
    """A creating command of a generated aggregate and the arguments to call it with."""

    aggregate: str
    command: str
    event: str
    arguments: tuple[tuple[str, Value], ...]


@dataclass
class ValidSchema:
    """A schema that docs/schema-format.md says is valid, and how to use its output."""

    data: dict[str, Any]
    creations: list[Creation]
    names: set[str]
    """Every name used (to pick names that are not)."""

    def text(self, **dump: Any) -> str:
        """The schema as YAML; `dump` goes to `yaml.safe_dump` (`allow_unicode`, say)."""
        return yaml_text(self.data, **dump)

    def renamed(self, domain: str) -> ValidSchema:
        data = dict(self.data)
        data["domain"] = domain
        return ValidSchema(data, self.creations, self.names)


_NOT_BREAKS = ("\x85", "\u2028", "\u2029")


# Plain scalars that YAML 1.2's core schema (aggregen's reading) takes for a number,
# a boolean or null, while PyYAML's YAML 1.1 resolver would write them unquoted
# (`4E+1`, `0o17`, `.NaN`...). Such strings are written quoted.
_YAML12_NOT_STRING = re.compile(
    r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
)


class _Yaml12Dumper(yaml.CSafeDumper):
    """PyYAML's safe dumper on libyaml's emitter (several times faster than PyYAML's,
    which its wheels ship), quoting strings that YAML 1.2 would not read as strings."""

    stand_ins: dict[str, str] = {}  # noqa: RUF012


def _represent_str(dumper: _Yaml12Dumper, value: str) -> yaml.ScalarNode:
    if any(char in value for char in dumper.stand_ins):
        for char, stand_in in dumper.stand_ins.items():
            value = value.replace(char, stand_in)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if _YAML12_NOT_STRING.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Yaml12Dumper.add_representer(str, _represent_str)


def _strings(data: Any) -> list[str]:
    """Every string in `data`, keys included."""
    found: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def yaml_text(data: Any, **dump: Any) -> str:
    """`data` as YAML that aggregen reads back as `data`.

    Strings YAML 1.2 would take for numbers, booleans or null are quoted. PyYAML's
    emitter writes U+0085, U+2028 and U+2029 as YAML 1.1 line breaks (a break and an
    indentation, which YAML 1.2 reads as content); with `allow_unicode` they are
    written raw inside double-quoted scalars instead, as YAML 1.2 has them.
    """
    if not dump.get("allow_unicode"):
        text: str = yaml.dump(data, Dumper=_Yaml12Dumper, sort_keys=False, **dump)
        return text
    used = "".join(_strings(data))  # the text would hold no other non-ASCII character
    free = (chr(code) for code in range(0xE000, 0xF900) if chr(code) not in used)
    stand_ins = {char: next(free) for char in _NOT_BREAKS}
    dumper = type("Dumper", (_Yaml12Dumper,), {"stand_ins": stand_ins})
    text = yaml.dump(data, Dumper=dumper, sort_keys=False, **dump)
    for char, stand_in in stand_ins.items():
        text = text.replace(stand_in, char)
    return text


def _description(draw: Draw, target: dict[str, Any]) -> None:
    if draw(st.booleans()):
        target["description"] = draw(free_text())


@st.composite
def valid_schemas(draw: Draw) -> ValidSchema:
    """A valid schema with 1-3 aggregates, as data, and the creations it allows."""
    classes: set[str] = set()
    snake_taken: set[str] = set()
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["format"] = 1
    data["domain"] = draw(DOMAIN_NAMES)
    _description(draw, data)
    context = _Context()
    for _ in range(draw(st.integers(0, 2))):
        name = _fresh(draw, PASCAL_NAMES, classes)
        count = draw(st.integers(1, 4))
        values: list[str] = []
        members: set[str] = set()
        for index in range(count):
            word = draw(_WORDS | st.sampled_from(ATTACKS).map(_storable))
            value = f"v{index} {word}" if draw(st.booleans()) else word
            member = enum_member_name(value)
            if member and member not in members and value not in values:
                members.add(member)
                values.append(value)
        if not values:
            values = ["only"]
        context.enums[name] = values
        enum: dict[str, Any] = {}
        _description(draw, enum)
        enum["values"] = values
        data.setdefault("enums", {})[name] = enum
    for _ in range(draw(st.integers(0, 2))):
        name = _fresh(draw, PASCAL_NAMES, classes)
        fields: dict[str, _Field] = {}
        taken: set[str] = set()
        for _ in range(draw(st.integers(1, 3))):
            fields[_fresh(draw, SNAKE_NAMES, taken)] = _field(draw, context)
        value_object: dict[str, Any] = {}
        _description(draw, value_object)
        value_object["fields"] = {n: f.raw for n, f in fields.items()}
        data.setdefault("value_objects", {})[name] = value_object
        context.value_objects[name] = fields
    aggregates: dict[str, Any] = {}
    creations: list[Creation] = []
    categories: set[str] = set()
    for index in range(draw(st.integers(1, 3))):
        name = _fresh(draw, PASCAL_NAMES, classes)
        aggregates[name] = _aggregate(draw, name, index, context, classes, categories, creations)
        snake_taken.update(aggregates[name].get("fields") or {})
    data["aggregates"] = aggregates
    return ValidSchema(data, creations, classes | snake_taken)


def _aggregate(
    draw: Draw,
    name: str,
    index: int,
    context: _Context,
    classes: set[str],
    categories: set[str],
    creations: list[Creation],
) -> dict[str, Any]:
    aggregate: dict[str, Any] = {}
    _description(draw, aggregate)
    if draw(st.booleans()):
        prefix = draw(_CATEGORY_PREFIXES)
        aggregate["category"] = f"{prefix}_{index}"
    if draw(st.booleans()):
        aggregate["snapshot_threshold"] = draw(st.sampled_from([0, 1, 2, 10, 10**6]))
    fields: dict[str, _Field] = {}
    taken: set[str] = set()
    identifier_name = "id"
    identifier_kind = "Identifier"
    identifier: _Field | None = None
    if draw(st.booleans()):
        identifier_name = _fresh(draw, SNAKE_NAMES, taken)
        identifier = _field(draw, context, identifier=True)
        identifier_kind = identifier.raw["type"]
        fields[identifier_name] = identifier
    for _ in range(draw(st.integers(0, 4))):
        fields[_fresh(draw, SNAKE_NAMES, taken)] = _field(draw, context)
    position = draw(st.integers(0, len(fields)))
    ordered = list(fields.items())
    if identifier is not None:
        ordered.insert(position, ordered.pop(0))
    if ordered or draw(st.booleans()):
        aggregate["fields"] = {n: f.raw for n, f in ordered}
    events: dict[str, Any] = {}
    event_fields: dict[str, dict[str, _Field]] = {}
    wires: set[str] = set()
    for _ in range(draw(st.integers(1, 3))):
        event_name = _fresh(draw, PASCAL_NAMES, classes)
        event, own = _event(draw, fields, identifier_name, context, event_name, wires)
        events[event_name] = event
        event_fields[event_name] = own
    aggregate["events"] = events
    commands: dict[str, Any] = {}
    command_names = set(taken) | {"id"}
    for number in range(draw(st.integers(0, 3))):
        command_name = _fresh(draw, SNAKE_NAMES, command_names)
        event_name = draw(st.sampled_from(sorted(events)))
        creates = draw(st.integers(0, 5)) > 0 if number == 0 else draw(st.booleans())
        command: dict[str, Any] = {"event": event_name}
        if creates or draw(st.booleans()):
            command["creates"] = creates
        _description(draw, command)
        commands[command_name] = command
        if creates:
            arguments = _arguments(draw, event_fields[event_name], identifier_name)
            if identifier_name not in event_fields[event_name]:
                if identifier is not None and identifier_kind != "Identifier":
                    arguments.append((identifier_name, identifier.example))
                elif draw(st.booleans()):
                    arguments.append((identifier_name, Value(str(draw(st.uuids())))))
            creations.append(Creation(name, command_name, event_name, tuple(arguments)))
    if commands or draw(st.booleans()):
        aggregate["commands"] = commands
    category = aggregate.get("category", name[:1].lower() + name[1:])
    assert category not in categories
    categories.add(category)
    return aggregate


def _arguments(
    draw: Draw, fields: dict[str, _Field], identifier_name: str
) -> list[tuple[str, Value]]:
    arguments = []
    for name, spec in fields.items():
        needed = spec.required and not spec.has_default
        if needed or name == identifier_name or draw(st.booleans()):
            arguments.append((name, spec.example))
    return arguments


def _event(
    draw: Draw,
    aggregate_fields: dict[str, _Field],
    identifier_name: str,
    context: _Context,
    name: str,
    wires: set[str],
) -> tuple[dict[str, Any], dict[str, _Field]]:
    event: dict[str, Any] = {}
    _description(draw, event)
    wire = name
    if draw(st.booleans()):
        wire = draw(_NON_EMPTY_TEXT)
        event["type"] = wire
    if wire in wires:  # another event's explicit wire name is this one's default
        wire = f"{name} ({len(wires)})"
        event["type"] = wire
    wires.add(wire)
    if draw(st.booleans()):
        event["version"] = draw(st.integers(1, 1000))
    fields: dict[str, _Field] = {}
    maps: dict[str, str | None] = {}
    taken = set(aggregate_fields) | {identifier_name}
    for target, spec in aggregate_fields.items():
        mode = draw(st.sampled_from(["skip", "same", "same", "renamed", "null"]))
        if target == identifier_name and mode in ("renamed", "null"):
            # 'maps' to the identifier is an error (documented); an event field named
            # like it is the creating command's id parameter, so of the identifier's type
            mode = "same"
        if mode == "same":
            fields[target] = _copy(draw, spec)
        elif mode == "renamed":
            source = _fresh(draw, SNAKE_NAMES, taken)
            fields[source] = _copy(draw, spec)
            maps[source] = target
        elif mode == "null":
            fields[target] = _field(draw, context)
            maps[target] = None
    for _ in range(draw(st.integers(0, 2))):
        fields[_fresh(draw, SNAKE_NAMES, taken)] = _field(draw, context)
    if draw(st.booleans()):
        extra = _fresh(draw, SNAKE_NAMES, taken)
        fields[extra] = _field(draw, context)
        maps[extra] = None
    order = draw(st.permutations(list(fields)))
    if fields or draw(st.booleans()):
        event["fields"] = {n: fields[n].raw for n in order}
    if maps:
        event["maps"] = maps
    return event, {n: fields[n] for n in order}


def _copy(draw: Draw, original: _Field) -> _Field:
    """An event field of the same type as an aggregate field (String and Text mix)."""
    raw = copy.deepcopy(original.raw)
    spec: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {"type": raw}
    spec.pop("identifier", None)
    if spec["type"] in ("String", "Text") and draw(st.booleans()):
        spec["type"] = "Text" if spec["type"] == "String" else "String"
    if spec["type"] == "Enum" and draw(st.booleans()):
        spec["values"] = list(reversed(spec["values"]))  # the same values in any order
    required = original.required
    if draw(st.booleans()):
        required = draw(st.booleans())
        spec["required"] = required
    has_default = "default" in spec
    raw = spec["type"] if list(spec) == ["type"] else spec
    return _Field(raw, original.example, required, has_default)


# -- invalid schemas -----------------------------------------------------------


@dataclass(frozen=True)
class InvalidSchema:
    """YAML text that docs/schema-format.md says is an error, and what was broken."""

    text: str
    mutation: str


Mutation = Callable[[Draw, ValidSchema, dict[str, Any]], str | None]
"""Break `data` in place and return None, or return the broken YAML text."""

_UNKNOWN_KEYS = ("colour", "descripton", "requried", "nullable", "Type", "extra key")


def _nodes(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every mapping of the schema that has a fixed set of keys, with its kind."""
    found: list[tuple[str, dict[str, Any]]] = [("top", data)]
    for enum in (data.get("enums") or {}).values():
        found.append(("enum", enum))
    for value_object in (data.get("value_objects") or {}).values():
        found.append(("value object", value_object))
        found += [("field", f) for f in value_object["fields"].values() if isinstance(f, dict)]
    for aggregate in data["aggregates"].values():
        found.append(("aggregate", aggregate))
        found += [("field", f) for f in (aggregate.get("fields") or {}).values()]
        for event in aggregate["events"].values():
            found.append(("event", event))
            found += [("field", f) for f in (event.get("fields") or {}).values()]
        found += [("command", c) for c in (aggregate.get("commands") or {}).values()]
    return [(kind, node) for kind, node in found if isinstance(node, dict)]


def _field_homes(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every `fields` mapping (aggregates and events always get one)."""
    homes = [v["fields"] for v in (data.get("value_objects") or {}).values()]
    for aggregate in data["aggregates"].values():
        homes.append(aggregate.setdefault("fields", {}))
        for event in aggregate["events"].values():
            homes.append(event.setdefault("fields", {}))
    return homes


def _any_aggregate(draw: Draw, data: dict[str, Any]) -> dict[str, Any]:
    aggregates = data["aggregates"]
    result: dict[str, Any] = aggregates[draw(st.sampled_from(sorted(aggregates)))]
    return result


def _unused(schema: ValidSchema, base: str) -> str:
    name = base
    while name in schema.names or name.lower() in {n.lower() for n in schema.names}:
        name += "Z" if base[:1].isupper() else "z"
    return name


def _rename_key(mapping: dict[str, Any], old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


def _unknown_key(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    _kind, node = draw(st.sampled_from(_nodes(data)))
    node[draw(st.sampled_from(_UNKNOWN_KEYS))] = draw(st.sampled_from([1, "x", None, [1]]))


def _wrong_type(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    aggregate = _any_aggregate(draw, data)
    event = aggregate["events"][draw(st.sampled_from(sorted(aggregate["events"])))]
    choice = draw(st.integers(0, 10))
    if choice == 0:
        data["domain"] = draw(st.sampled_from([5, None, ["shop"], True]))
    elif choice == 1:
        data["aggregates"] = draw(st.sampled_from([[], "Thing", 3]))
    elif choice == 2:
        aggregate["events"] = draw(st.sampled_from([["Done"], "Done", None]))
    elif choice == 3:
        aggregate["snapshot_threshold"] = draw(st.sampled_from([-1, "10", 1.5, 5.0, True]))
    elif choice == 4:
        event["version"] = draw(st.sampled_from([0, -3, "2", 1.5, 3.0]))
    elif choice == 5:
        event["type"] = draw(st.sampled_from(["", 5, None, ["x"]]))
    elif choice == 6:
        aggregate.setdefault("commands", {})["zz_mutated_command"] = {
            "event": sorted(aggregate["events"])[0],
            "creates": draw(st.sampled_from(["true", "yes", 1, None])),
        }
    elif choice == 7:
        data["description"] = draw(st.sampled_from([5, ["x"], {"a": "b"}, True]))
    elif choice == 8:
        event["fields"] = draw(st.sampled_from([["x"], "x: String", 7]))
    elif choice == 9:
        home = draw(st.sampled_from(_field_homes(data)))
        home[_unused(schema, "zz_mutated_field")] = {
            "type": "String",
            draw(st.sampled_from(["required", "max_length", "pattern"])): [True],
        }
    else:
        home = draw(st.sampled_from(_field_homes(data)))
        home[_unused(schema, "zz_mutated_field")] = draw(st.sampled_from([5, None, [], {}, ""]))


_BAD_SNAKE = ("Bad", "has-dash", "with space", "_private", "1st", "é", "a.b", "")
_BAD_PASCAL = ("lower", "Has_Underscore", "With Space", "9Lives", "Ünï", "A-B", "")
_KEYWORD_SNAKE = (
    "class",
    "match",
    "case",
    "lambda",
    "metadata",
    "to_data",
    "str",
    "id",
    "apply",
    "classmethod",
    "property",
    "self",
)
_KEYWORD_PASCAL = ("None", "True", "String", "Exception", "Aggregate", "List", "Self", "Literal")


def _bad_name(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    reserved = draw(st.booleans())
    snake = _KEYWORD_SNAKE if reserved else _BAD_SNAKE
    pascal = _KEYWORD_PASCAL if reserved else _BAD_PASCAL
    aggregate = _any_aggregate(draw, data)
    choice = draw(st.integers(0, 5))
    if choice == 0:
        data["domain"] = draw(
            st.sampled_from(
                ["import", "json", "aggregen", "os", "match", "typing"]
                if reserved
                else ["Shop", "my-shop", "9shop", "", "shop.app", "_shop"]
            )
        )
    elif choice == 1:
        old = draw(st.sampled_from(sorted(data["aggregates"])))
        _rename_key(data["aggregates"], old, draw(st.sampled_from(pascal)))
    elif choice == 2:
        events = aggregate["events"]
        _rename_key(events, draw(st.sampled_from(sorted(events))), draw(st.sampled_from(pascal)))
    elif choice == 3:
        home = draw(st.sampled_from(_field_homes(data)))
        home[draw(st.sampled_from(snake))] = "String"
    elif choice == 4:
        aggregate.setdefault("commands", {})[draw(st.sampled_from(snake))] = {
            "event": sorted(aggregate["events"])[0]
        }
    else:
        kind = draw(st.sampled_from(["enums", "value_objects"]))
        body: dict[str, Any] = {"values": ["a"]} if kind == "enums" else {"fields": {"x": "String"}}
        data.setdefault(kind, {})[draw(st.sampled_from(pascal))] = body


def _dangling(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    aggregate = _any_aggregate(draw, data)
    missing = _unused(schema, "NowhereToBeFound")
    choice = draw(st.integers(0, 4))
    if choice == 0:
        aggregate.setdefault("commands", {})[_unused(schema, "zz_mutated_command")] = {
            "event": missing
        }
    elif choice == 1:
        home = draw(st.sampled_from(_field_homes(data)))
        home[_unused(schema, "zz_mutated_field")] = draw(
            st.sampled_from([missing, {"type": "List", "of": missing}, "string", "Str"])
        )
    elif choice == 2:
        event = aggregate["events"][draw(st.sampled_from(sorted(aggregate["events"])))]
        source = _unused(schema, "zz_mutated_source")
        event.setdefault("fields", {})[source] = "String"
        event.setdefault("maps", {})[source] = _unused(schema, "zz_mutated_target")
    elif choice == 3:
        event = aggregate["events"][draw(st.sampled_from(sorted(aggregate["events"])))]
        event.setdefault("maps", {})[_unused(schema, "zz_mutated_absent")] = None
    else:
        home = draw(st.sampled_from(_field_homes(data)))
        home[_unused(schema, "zz_mutated_field")] = sorted(data["aggregates"])[0]  # an aggregate


def _duplicate_key(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> str:
    placeholder = "zzduplicatezz"
    aggregate = _any_aggregate(draw, data)
    places: list[tuple[dict[str, Any], str]] = [(data, "domain"), (data, "aggregates")]
    places += [(data["aggregates"], n) for n in data["aggregates"]]
    places += [(aggregate["events"], n) for n in aggregate["events"]]
    places += [(home, n) for home in _field_homes(data) for n in home]
    places += [(aggregate, key) for key in aggregate]
    mapping, key = draw(st.sampled_from(places))
    mapping[placeholder] = copy.deepcopy(mapping[key])
    text = schema.text(allow_unicode=draw(st.booleans()))
    assert text.count(placeholder) == 1
    return text.replace(placeholder, key)


def _bad_default(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    enums = data.get("enums") or {}
    kind = draw(st.sampled_from([*BUILTIN_TYPES, *enums, *(data.get("value_objects") or {})]))
    spec: dict[str, Any] = {"type": kind}
    bad: list[Any] = [None]
    if kind in ("String", "Text"):
        bad += [5, True, ["x"]]
        spec["max_length"] = 2
        bad.append("abc")
    elif kind == "Integer":
        bad += ["ten", 1.5, 2.0, True, "1", 2**64, INTEGER_MIN - 1]
        spec["max"] = 3
        bad.append(4)
    elif kind == "Float":
        bad += ["x", True, ".nan", ".inf"]
        spec["min"] = 0
        bad.append(-0.5)
    elif kind == "Decimal":
        bad += [1.5, "abc", "NaN", "Infinity", True]
    elif kind == "Boolean":
        bad += ["yes", "true", 1, "on"]
    elif kind == "Date":
        bad += ["2024-13-01", "2023-02-29", 20240101, "2024-01-01T10:00"]
    elif kind == "DateTime":
        bad += ["yesterday", "2024-01-01T25:00", 5, "2024-01-01T10:00"]
    elif kind == "Identifier":
        bad += ["not-a-uuid", "6FA459EA-EE8A-3CA4-894E-DB77E160355E", "{6fa459ea}", 5]
    elif kind == "Enum":
        spec["values"] = ["a", "b"]
        bad += ["c", "A", 1, ["a"]]
    elif kind == "List":
        spec["of"] = "Integer"
        bad += ["x", [1, "two"], {"a": 1}, [None]]
    elif kind in enums:
        bad += [_unused(schema, "not a value at all"), 1, []]
    else:
        bad += ["text", [1], {_unused(schema, "zz_mutated_absent"): 1}]
    spec["default"] = draw(st.sampled_from(bad))
    home = draw(st.sampled_from(_field_homes(data)))
    home[_unused(schema, "zz_mutated_field")] = spec


def _bad_options(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    spec = draw(
        st.sampled_from(
            [
                {"type": "Integer", "min": 5, "max": 1},
                {"type": "Float", "min": 0.5, "max": -0.5},
                {"type": "Decimal", "min": 10, "max": 9.99},
                {"type": "Integer", "min": 1.5},
                {"type": "Integer", "min": 1.0},
                {"type": "Integer", "max": INTEGER_MAX + 1},
                {"type": "String", "max_length": 3.0},
                {"type": "String", "min_length": 3, "max_length": 1},
                {"type": "Text", "min_length": -1},
                {"type": "String", "pattern": "[a-"},
                {"type": "String", "pattern": "(?P<x>"},
                {"type": "Integer", "max_length": 3},
                {"type": "Boolean", "pattern": "x"},
                {"type": "String", "values": ["a"]},
                {"type": "Enum"},
                {"type": "Enum", "values": []},
                {"type": "Enum", "values": ["a", "a"]},
                {"type": "Enum", "values": [""]},
                {"type": "List"},
                {"type": "List", "of": {"type": "String", "required": True}},
                {"type": "List", "of": {"type": "String", "default": "x"}},
                {"type": "Float", "min": "0"},
            ]
        )
    )
    home = draw(st.sampled_from(_field_homes(data)))
    home[_unused(schema, "zz_mutated_field")] = spec


def _broken_rule(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    """A rule beyond structure: duplicates, cycles, identifiers, clashes."""
    aggregate = _any_aggregate(draw, data)
    aggregate_name = next(n for n, a in data["aggregates"].items() if a is aggregate)
    choice = draw(st.integers(0, 13))
    if choice == 0:  # two events with one wire type name
        events = aggregate["events"]
        first = sorted(events)[0]
        wire = events[first].get("type", first)
        events[_unused(schema, "ZzMutatedEvent")] = {"type": wire}
    elif choice == 1:  # two aggregates with one stream category
        category = aggregate.get("category", aggregate_name[:1].lower() + aggregate_name[1:])
        data["aggregates"][_unused(schema, "ZzMutatedAggregate")] = {
            "category": category,
            "events": {_unused(schema, "ZzMutatedEvent"): {}},
        }
    elif choice == 2:  # a value object that contains itself
        name = _unused(schema, "ZzMutatedCycle")
        of: Any = draw(st.sampled_from([name, {"type": "List", "of": name}]))
        data.setdefault("value_objects", {})[name] = {"fields": {"me": of}}
    elif choice == 3:  # two identifiers
        fields = aggregate.setdefault("fields", {})
        fields[_unused(schema, "zz_mutated_one")] = {"type": "String", "identifier": True}
        fields[_unused(schema, "zz_mutated_two")] = {"type": "Integer", "identifier": True}
    elif choice == 4:  # an identifier of the wrong type, or with a default
        spec = draw(
            st.sampled_from(
                [
                    {"type": "Date", "identifier": True},
                    {"type": "String", "identifier": True, "default": "x"},
                ]
            )
        )
        aggregate.setdefault("fields", {})[_unused(schema, "zz_mutated_key")] = spec
    elif choice == 5:  # a command named like a field
        name = _unused(schema, "zz_mutated_both")
        aggregate.setdefault("fields", {})[name] = "String"
        aggregate.setdefault("commands", {})[name] = {"event": sorted(aggregate["events"])[0]}
    elif choice == 6:  # names differing only in letter case
        name = _unused(schema, "ZzMutatedCase")
        data["aggregates"][name] = {"events": {_unused(schema, "ZzMutatedEvent"): {}}}
        data["aggregates"][name.upper()] = {"events": {_unused(schema, "ZzMutatedOther"): {}}}
    elif choice == 7:  # an event copying a field of another type
        name = _unused(schema, "zz_mutated_copied")
        aggregate.setdefault("fields", {})[name] = "Integer"
        event = aggregate["events"][sorted(aggregate["events"])[0]]
        event.setdefault("fields", {})[name] = draw(st.sampled_from(["String", "Boolean"]))
        event.get("maps", {}).pop(name, None)
    elif choice == 8:  # a command raising another aggregate's event, or an aggregate's name
        other = _unused(schema, "ZzMutatedOwner")
        event = _unused(schema, "ZzMutatedForeign")
        data["aggregates"][other] = {"events": {event: {}}}
        aggregate.setdefault("commands", {})[_unused(schema, "zz_mutated_command")] = {
            "event": event
        }
    elif choice == 10:  # an event field named like the event's upcast method
        event = aggregate["events"][sorted(aggregate["events"])[0]]
        event.setdefault("fields", {})["upcast"] = "String"
    elif choice == 11:  # a field named like an apply method
        first = sorted(aggregate["events"])[0]
        aggregate.setdefault("fields", {})[f"apply_{snake_case(first)}"] = "String"
    elif choice == 12:  # one event name in two aggregates
        first = sorted(aggregate["events"])[0]
        data["aggregates"][_unused(schema, "ZzMutatedTwin")] = {"events": {first: {}}}
    elif choice == 13:  # 'maps' sending an event field to the identifier
        fields = aggregate.setdefault("fields", {})
        if not any(isinstance(f, dict) and f.get("identifier") for f in fields.values()):
            fields[_unused(schema, "zz_mutated_key")] = {"type": "String", "identifier": True}
        key = next(n for n, f in fields.items() if isinstance(f, dict) and f.get("identifier"))
        event = aggregate["events"][sorted(aggregate["events"])[0]]
        source = _unused(schema, "zz_mutated_source")
        event.setdefault("fields", {})[source] = "String"
        event.setdefault("maps", {})[source] = key
    else:  # enum values naming one member
        data.setdefault("enums", {})[_unused(schema, "ZzMutatedEnum")] = {
            "values": draw(st.sampled_from([["in progress", "in-progress"], ["!!"], ["a", "A"]]))
        }


def _format_or_structure(draw: Draw, schema: ValidSchema, data: dict[str, Any]) -> None:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        data["format"] = draw(st.sampled_from([2, 0, "1", 1.5, 1.0]))
    elif choice == 1:
        del data["aggregates"]
    elif choice == 2:
        data["aggregates"] = {}
    elif choice == 3:
        _any_aggregate(draw, data)["events"] = {}
    else:
        del data["domain"]


MUTATIONS: dict[str, Mutation] = {
    "unknown key": _unknown_key,
    "wrong type": _wrong_type,
    "bad or reserved name": _bad_name,
    "dangling reference": _dangling,
    "duplicate key": _duplicate_key,
    "bad default": _bad_default,
    "bad options": _bad_options,
    "broken rule": _broken_rule,
    "format or structure": _format_or_structure,
}


@st.composite
def invalid_schemas(draw: Draw) -> InvalidSchema:
    """A valid schema broken by one mutation of `MUTATIONS`, as YAML text."""
    schema: ValidSchema = draw(valid_schemas())
    data = copy.deepcopy(schema.data)
    broken = ValidSchema(data, [], schema.names)
    name = draw(st.sampled_from(sorted(MUTATIONS)))
    text = MUTATIONS[name](draw, broken, data)
    if text is None:
        text = broken.text(allow_unicode=draw(st.booleans()))
    return InvalidSchema(text, name)


def _check_module() -> None:
    """Guard: none of the names the strategies use as valid is reserved by Python."""
    assert not any(keyword.iskeyword(n) for n in _SNAKE_POOL + _PASCAL_POOL)
    assert "values" not in sys.stdlib_module_names


_check_module()
