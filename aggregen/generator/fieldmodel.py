"""Part of the model stage: the decisions for one field of an event, value object or state.

`resolve_field` gives a field's working form (`Field`): its type as Python, whether
it may be None, its default as source. The functions below turn it into the lines
generated classes print: declaration, check, and the expressions that encode it to
and decode it from JSON data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .fieldtypes import TypeContext, TypeInfo, TypeProblem, field_spec, resolve_type
from .literals import literal
from .modeltypes import FieldModel
from .namespace import VALIDATION_ALIAS, VALIDATION_IMPORT, Namespace, Problems
from .wirekeys import wire_key

__all__ = [
    "Field",
    "claim_fields",
    "decode",
    "described",
    "encode",
    "field_imports",
    "field_model",
    "mapping",
    "resolve_field",
    "resolve_fields",
    "text",
]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Field:
    """A field spec with its resolved type: the model stage's working form."""

    name: str
    spec: Mapping[str, Any]
    info: TypeInfo
    nullable: bool
    default: str | None
    key_path: KeyPath
    default_imports: frozenset[tuple[str, str]] = frozenset()
    """What the default's source refers to."""
    wire_key: str = ""
    """The field's key in stored JSON (see `wirekeys`); "" means its name."""

    @property
    def key(self) -> str:
        """The field's key in its JSON data: the wire key, or the name in a snapshot."""
        return self.wire_key or self.name

    @property
    def imports(self) -> frozenset[tuple[str, str]]:
        """What the annotation, the conversions and the default need (not the rule)."""
        return self.info.imports | self.default_imports

    @property
    def annotation(self) -> str:
        return f"{self.info.annotation} | None" if self.nullable else self.info.annotation

    @property
    def description(self) -> str:
        value = self.spec.get("description")
        return value if isinstance(value, str) else ""


def resolve_field(
    problems: Problems,
    context: TypeContext,
    name: str,
    raw: object,
    key_path: KeyPath,
    *,
    state: bool = False,
) -> Field | None:
    spec = field_spec(raw)
    try:
        info = resolve_type(spec, context, state=state)
        default, default_imports = (
            info.default(spec["default"]) if "default" in spec else (None, frozenset())
        )
    except TypeProblem as problem:
        where = key_path
        if problem.key is not None and isinstance(raw, dict) and problem.key in raw:
            where = (*key_path, problem.key)
        problems.add(where, f"field {name!r}: {problem.message}")
        return None
    if default is None and info.empty is not None:
        default = info.empty
    required = bool(spec.get("required")) and not state
    nullable = default is None and not required
    key = "" if state else wire_key(name, spec, context.wire_casing)
    return Field(name, spec, info, nullable, default, key_path, default_imports, key)


def encode(field: Field, expr: str) -> str:
    encoded = field.info.encode(expr)
    if field.nullable and encoded != expr:
        return f"None if {expr} is None else {encoded}"
    return encoded


def decode(field: Field, data: str, *, strict: bool = False) -> str:
    """Reading `data[key]`; unless `strict`, a missing key means the default or None."""
    key = literal(field.key)
    item = f"{data}[{key}]"
    decoded = field.info.decode(item, field.name)
    if field.default is not None and not strict:
        return f"{decoded} if {key} in {data} else {field.default}"
    if field.nullable:
        return f"None if {item if strict else f'{data}.get({key})'} is None else {decoded}"
    return decoded


def _dataclass_default(field: Field) -> str:
    if field.default is None:
        return " = None" if field.nullable else ""
    if field.info.mutable:
        return f" = dataclasses.field(default_factory=lambda: {field.default})"
    return f" = {field.default}"


def _holds(field: Field) -> str | None:
    """The statement of `__post_init__` that makes the class hold its own form of the value.

    A list becomes an immutable copy; an `int` given to a Float field becomes a `float`
    (tested first: this costs next to nothing for a float).
    """
    if field.info.holds is None:
        return None
    attribute = f"self.{field.name}"
    statement = f"set_field(self, {literal(field.name)}, {field.info.holds(attribute)})"
    if field.info.annotation == "float":
        return f"if type({attribute}) is int:\n    {statement}"
    return statement


def field_model(field: Field) -> FieldModel:
    nullable = ", nullable=True" if field.nullable else ""
    key = literal(field.name)
    return FieldModel(
        name=field.name,
        declaration=f"{field.name}: {field.annotation}{_dataclass_default(field)}",
        check=(
            f"{VALIDATION_ALIAS}.check(errors, {key}, self.{field.name}, "
            f"{field.info.rule}{nullable})"
        ),
        to_data=f"{literal(field.key)}: {encode(field, 'self.' + field.name)}",
        key=key,
        read=decode(field, "data"),
        holds=_holds(field),
    )


def field_imports(fields: Iterable[Field]) -> set[tuple[str, str]]:
    """What validating and converting `fields` needs."""
    imports: set[tuple[str, str]] = set()
    for field in fields:
        imports |= field.imports | field.info.rules
    if imports:
        imports.add(VALIDATION_IMPORT)
    return imports


def described(what: str, description: object, fields: Sequence[Field] = ()) -> list[str]:
    parts = [description if isinstance(description, str) and description.strip() else what]
    described = [f"{f.name}: {f.description}" for f in fields if f.description.strip()]
    if described:
        parts.append("Fields:\n" + "\n".join(described))
    return parts


def mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def resolve_fields(
    problems: Problems,
    context: TypeContext,
    raw_fields: Mapping[str, Any],
    key_path: KeyPath,
    *,
    state: bool = False,
) -> list[Field]:
    """The fields of a mapping that resolve; problems of the others go to `problems`."""
    fields = []
    for name, raw in raw_fields.items():
        field = resolve_field(problems, context, name, raw, (*key_path, name), state=state)
        if field is not None:
            fields.append(field)
    return fields


def claim_fields(namespace: Namespace, fields: Iterable[Field]) -> None:
    """Claim every field's name in `namespace` (a class's attributes)."""
    for field in fields:
        namespace.claim(field.name, "the field", field.key_path)
