"""Part of the model stage: what each schema field type becomes in Python.

`resolve_type` turns a validated field spec into a `TypeInfo`: its annotation, the
rule that validates it, the expressions that encode it to JSON data and read it
back (checking its type, not its rule: see `aggregen.runtime.validation`), the
source of a default value, and the imports all of these need. Every schema string
that ends up in code passes through `repr`.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .literals import literal
from .namespace import VALIDATION_ALIAS, VALIDATION_IMPORT
from .naming import enum_member_name

__all__ = [
    "Default",
    "NamedEnum",
    "TypeContext",
    "TypeInfo",
    "TypeProblem",
    "field_spec",
    "resolve_type",
    "type_shape",
]

Import = tuple[str, str]
"""(module, name): `from module import name`; name "" means `import module`."""

Default = tuple[str, frozenset[Import]]
"""A default value as source, and the imports that source refers to."""

_V = VALIDATION_ALIAS + "."


class TypeProblem(Exception):
    """A field spec that cannot become code (a default that does not fit, say)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


@dataclass(frozen=True)
class NamedEnum:
    """A named enum of the domain: its values and their member names."""

    name: str
    values: tuple[str, ...]
    members: tuple[str, ...]
    value_aliases: Mapping[str, str] = field(default_factory=dict)
    """`old value: current value` of renamed values."""


@dataclass(frozen=True)
class TypeContext:
    """What a field type may refer to: the domain's enums and value objects."""

    enums: Mapping[str, NamedEnum]
    value_objects: Mapping[str, Mapping[str, Any]]
    values_module: str
    wire_casing: str = "snake_case"
    """The domain's `wire_casing`: how field names become keys in stored JSON."""


@dataclass(frozen=True)
class TypeInfo:
    """A field type as Python: annotation, rule, wire conversions, defaults, imports."""

    annotation: str
    rule: str
    encode: Callable[[str], str]
    reader: str
    """The runtime function reading a stored value: `reader(value, name, *reader_args)`."""
    default: Callable[[Any], Default]
    """The source of a default value and what it refers to (derived from the source)."""
    mutable: bool
    imports: frozenset[Import]
    """What the annotation and the conversions need."""
    rules: frozenset[Import]
    """What the rule needs besides `imports`."""
    reader_args: tuple[str, ...] = ()
    """What `reader` needs besides the value and the field's name, as source."""
    holds: Callable[[str], str] | None = None
    """The value an event or value object holds for the value given to it, as source
    (Float: the `float` an `int` equals; List: an immutable copy); None: the value given."""
    leaf_holds: str | None = None
    """For a List: the function `frozen` applies to the items that are not lists."""
    empty: str | None = None
    """For a List: the source of the empty value, the default when there is none."""
    thaw: Callable[[str], str] | None = None
    """For a List of the state: copying an event's (immutable) value into the state's form."""

    def decode(self, expr: str, name: str) -> str:
        """Reading `expr`, type checked; its errors name the field `name`.

        A `str` (what JSON decoders give for text) is taken as it is without calling
        `reader`: a call per field is a third of the cost of decoding a text field.
        """
        tail = "".join(f", {arg}" for arg in self.reader_args)
        read = f"{self.reader}({expr}, {literal(name)}{tail})"
        if self.reader == _READ_STR:
            return f"({expr} if {expr}.__class__ is str else {read})"
        return read


def field_spec(raw: object) -> dict[str, Any]:
    """The field mapping of a field: the short form `name: Type` means `{type: Type}`."""
    if isinstance(raw, str):
        return {"type": raw}
    if isinstance(raw, dict):
        return raw
    return {"type": "String"}


def _same(expr: str) -> str:
    return expr


def _options(**options: str | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items() if value is not None)


def _float_src(value: float) -> str:
    if math.isnan(value):
        return 'float("nan")'
    if math.isinf(value):
        return 'float("inf")' if value > 0 else 'float("-inf")'
    return repr(value)


def _number(value: Any, kind: str) -> str | None:
    if value is None:
        return None
    if kind == "Integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeProblem(f"must be a whole number, not {value!r}")
        return repr(value)
    if kind == "Float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeProblem(f"must be a number, not {value!r}")
        return _float_src(float(value))
    return _decimal_src(value)


def _decimal_src(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeProblem(f"must be a decimal number, not {value!r}")
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise TypeProblem(f"must be a decimal number, not {value!r}") from None
    if not number.is_finite():
        raise TypeProblem(f"must be a finite decimal number, not {value!r}")
    return f"decimal.Decimal({literal(str(number))})"


def _scalar(kind: str, spec: Mapping[str, Any]) -> TypeInfo:
    def default(value: Any) -> Default:
        expected = {"String": str, "Text": str, "Identifier": str, "Boolean": bool}[kind]
        if not isinstance(value, expected):
            raise TypeProblem(f"must be a {expected.__name__}, not {value!r}", "default")
        return literal(value), _NONE

    if kind in ("String", "Text"):
        pattern = spec.get("pattern")
        rule = (
            _V
            + "TextRule("
            + _options(
                min_length=_number(spec.get("min_length"), "Integer"),
                max_length=_number(spec.get("max_length"), "Integer"),
                pattern=None if pattern is None else literal(str(pattern)),
            )
            + ")"
        )
        return TypeInfo("str", rule, _same, _READ_STR, default, False, _READ, _rules("TextRule"))
    if kind == "Identifier":
        rule = _V + "IdentifierRule()"
        return TypeInfo(
            "str", rule, _same, _READ_STR, default, False, _READ, _rules("IdentifierRule")
        )
    rule = _V + "BooleanRule()"
    return TypeInfo(
        "bool", rule, _same, _V + "read_bool", default, False, _READ, _rules("BooleanRule")
    )


def _rules(*names: str) -> frozenset[Import]:
    """What rules `names` need: the runtime's validation module, under its alias."""
    return frozenset({VALIDATION_IMPORT}) if names else frozenset()


_NONE: frozenset[Import] = frozenset()
_READ: frozenset[Import] = frozenset({VALIDATION_IMPORT})
"""What reading a value needs: the runtime's `read_*` functions."""
_READ_STR = _V + "read_str"
_READ_FLOAT = _V + "read_float"
_AS_FLOAT = _V + "as_float"
_SEQUENCE: frozenset[Import] = frozenset({("collections.abc", "Sequence")})
_DECIMAL: frozenset[Import] = frozenset({("decimal", "")})
_DATETIME: frozenset[Import] = frozenset({("datetime", "")})


def _numeric(kind: str, spec: Mapping[str, Any]) -> TypeInfo:
    low = _number(spec.get("min"), kind)
    high = _number(spec.get("max"), kind)

    def default(value: Any) -> Default:
        try:
            source = _number(value, kind)
        except TypeProblem as problem:
            raise TypeProblem(problem.message, "default") from None
        assert source is not None
        if kind == "Float" and not math.isfinite(value):
            raise TypeProblem(f"must be a finite number, not {value!r}", "default")
        return source, _DECIMAL if kind == "Decimal" else _NONE

    if kind == "Integer":
        rule = f"{_V}IntegerRule({_options(min=low, max=high)})"
        return TypeInfo(
            "int", rule, _same, _V + "read_int", default, False, _READ, _rules("IntegerRule")
        )
    if kind == "Float":
        rule = f"{_V}FloatRule({_options(min=low, max=high)})"
        return TypeInfo(
            "float",
            rule,
            _same,
            _READ_FLOAT,
            default,
            False,
            _READ,
            _rules("FloatRule"),
            holds=lambda expr: f"{_AS_FLOAT}({expr})",
            leaf_holds=_AS_FLOAT,
        )
    rule = f"{_V}DecimalRule({_options(min=low, max=high)})"
    return TypeInfo(
        "decimal.Decimal",
        rule,
        lambda expr: f"str({expr})",
        _V + "read_decimal",
        default,
        False,
        frozenset({("decimal", ""), VALIDATION_IMPORT}),
        _rules("DecimalRule"),
    )


def _temporal(kind: str) -> TypeInfo:
    cls = datetime.date if kind == "Date" else datetime.datetime
    annotation = f"datetime.{cls.__name__}"

    def default(value: Any) -> Default:
        if isinstance(value, datetime.date):
            parsed: datetime.date = value
        else:
            try:
                parsed = cls.fromisoformat(str(value))
            except ValueError:
                message = f"must be an ISO 8601 {kind.lower()}, not {value!r}"
                raise TypeProblem(message, "default") from None
        if kind == "Date" and isinstance(parsed, datetime.datetime):
            raise TypeProblem(f"must be an ISO 8601 date, not {value!r}", "default")
        if isinstance(parsed, datetime.datetime) and parsed.utcoffset() is None:
            message = (
                f"must name its timezone (such as +00:00 or Z), not {value!r}: "
                "a naive date-time names no instant"
            )
            raise TypeProblem(message, "default")
        return repr(parsed), _DATETIME

    rule_name = _V + ("DateRule" if kind == "Date" else "DateTimeRule")
    return TypeInfo(
        annotation,
        f"{rule_name}()",
        lambda expr: f"{expr}.isoformat()",
        _V + "read_" + kind.lower(),
        default,
        False,
        _DATETIME | _READ,
        _rules(rule_name),
    )


def _choice(spec: Mapping[str, Any]) -> TypeInfo:
    values = tuple(str(v) for v in spec.get("values") or ())
    choices = ", ".join(literal(v) for v in values)

    def default(value: Any) -> Default:
        if value not in values:
            raise TypeProblem(f"must be one of the enum's values, not {value!r}", "default")
        return literal(value), _NONE

    return TypeInfo(
        f"Literal[{choices}]",
        f"{_V}ChoiceRule({literal(values)})",
        _same,
        _V + "read_choice",
        default,
        False,
        frozenset({("typing", "Literal"), VALIDATION_IMPORT}),
        _rules("ChoiceRule"),
        (literal(values),),
    )


def _named_enum(found: NamedEnum, module: str) -> TypeInfo:
    name = found.name

    def default(value: Any) -> Default:
        if value not in found.values:
            raise TypeProblem(f"must be one of {name}'s values, not {value!r}", "default")
        return f"{name}.{found.members[found.values.index(value)]}", frozenset({(module, name)})

    return TypeInfo(
        name,
        f"{_V}InstanceRule({name})",
        lambda expr: f"{expr}.value",
        _V + "read_enum",
        default,
        False,
        frozenset({(module, name), VALIDATION_IMPORT}),
        _rules("InstanceRule"),
        (name,),
    )


def _value_object(name: str, context: TypeContext, depth: int) -> TypeInfo:
    fields = context.value_objects[name].get("fields") or {}

    def default(value: Any) -> Default:
        if not isinstance(value, dict):
            raise TypeProblem(f"must be a mapping of {name}'s fields, not {value!r}", "default")
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise TypeProblem(f"{name} has no field {unknown[0]!r}", "default")
        arguments = []
        imports = {(context.values_module, name)}
        for field_name, raw in fields.items():
            spec = field_spec(raw)
            if field_name in value:
                inner = resolve_type(spec, context, depth + 1)
                source, needs = inner.default(value[field_name])
                arguments.append(f"{field_name}={source}")
                imports |= needs
            elif spec.get("required") and "default" not in spec:
                raise TypeProblem(f"the default {name} needs its field {field_name!r}", "default")
        return f"{name}({', '.join(arguments)})", frozenset(imports)

    return TypeInfo(
        name,
        f"{_V}InstanceRule({name})",
        lambda expr: f"{expr}.to_data()",
        _V + "read_object",
        default,
        True,
        frozenset({(context.values_module, name), VALIDATION_IMPORT}),
        _rules("InstanceRule"),
        (f"{name}.from_data",),
    )


def _list(spec: Mapping[str, Any], context: TypeContext, depth: int, state: bool) -> TypeInfo:
    """A List: a `Sequence` held as a tuple in events and value objects, a `list` in state."""
    item = resolve_type(field_spec(spec.get("of") or "String"), context, depth + 1, state=state)
    var = "item" if depth == 0 else f"item{depth}"
    opening, closing = ("[", "]") if state else ("(", ")")

    def encode(expr: str) -> str:
        inner = item.encode(var)
        return f"list({expr})" if inner == var else f"[{inner} for {var} in {expr}]"

    def default(value: Any) -> Default:
        if not isinstance(value, list):
            raise TypeProblem(f"must be a list, not {value!r}", "default")
        items = [item.default(v) for v in value]
        imports = frozenset(i for _, needs in items for i in needs)
        listed = ", ".join(source for source, _ in items)
        if not state and len(items) == 1:
            listed += ","
        return opening + listed + closing, imports

    def holds(expr: str) -> str:
        leaf = f", {item.leaf_holds}" if item.leaf_holds else ""
        return f"{_V}frozen({expr}{leaf})"

    def thaw(expr: str) -> str:
        if item.thaw is None:
            return f"list({expr})"
        return f"[{item.thaw(var)} for {var} in {expr}]"

    if state:
        annotation = f"list[{item.annotation}]"
        imports = item.imports | _READ
    else:
        annotation = f"Sequence[{item.annotation}]"
        imports = item.imports | _READ | _SEQUENCE
    return TypeInfo(
        annotation,
        f"{_V}ListRule({item.rule})",
        encode,
        _V + ("read_list" if state else "read_tuple"),
        default,
        state,
        imports,
        item.rules | _rules("ListRule"),
        (item.reader, *item.reader_args),
        holds=None if state else holds,
        leaf_holds=item.leaf_holds,
        empty=opening + closing,
        thaw=thaw if state else None,
    )


def resolve_type(
    spec: Mapping[str, Any], context: TypeContext, depth: int = 0, *, state: bool = False
) -> TypeInfo:
    """The Python form of a field spec; raises `TypeProblem` for an unusable spec.

    `state`: the form of an aggregate's state field (lists are `list`s), not of an
    event's or a value object's (lists are immutable, tuples typed `Sequence`).
    """
    kind = spec.get("type")
    if not isinstance(kind, str):
        raise TypeProblem("a field needs a type", "type")
    if depth > 20:
        raise TypeProblem("lists are nested too deeply", "type")
    if kind in ("String", "Text", "Identifier", "Boolean"):
        return _scalar(kind, spec)
    if kind in ("Integer", "Float", "Decimal"):
        return _numeric(kind, spec)
    if kind in ("Date", "DateTime"):
        return _temporal(kind)
    if kind == "Enum":
        return _choice(spec)
    if kind == "List":
        return _list(spec, context, depth, state)
    if kind in context.enums:
        return _named_enum(context.enums[kind], context.values_module)
    if kind in context.value_objects:
        return _value_object(kind, context, depth)
    raise TypeProblem(f"unknown type {kind!r}", "type")


def enum_members(values: tuple[str, ...]) -> tuple[str, ...]:
    """Member names for enum values, in order (clashes are the caller's to report)."""
    return tuple(enum_member_name(v) for v in values)


def type_shape(raw: object, depth: int = 0) -> object:
    """What decides whether one field's value can be copied into another's.

    The type name, except that String and Text are one shape, an Enum is the set of
    its values (in any order: `Literal` types are unions) and a List the shape of its
    items.
    """
    spec = field_spec(raw)
    kind = spec.get("type")
    if kind in ("String", "Text"):
        return "str"
    if kind == "Enum":
        return ("Enum", frozenset(str(v) for v in spec.get("values") or ()))
    if kind == "List" and depth < 20:
        return ("List", type_shape(spec.get("of", "String"), depth + 1))
    return kind
