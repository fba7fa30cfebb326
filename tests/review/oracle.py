"""The stored-history oracle: do events written by older generated code still read?

`stranded(versions)` takes the texts of one domain's schema at successive versions.
Each is generated into its own directory (cached per text, for the whole test run);
the code of every version but the last writes each of its event types with
representative values to one `InMemoryEventStore` (several events per type: every
enum value and boolean taken at least once, and one event with only its required
fields); the code of the last version then reads every stream back with
`Repository.history`, as `get` and handlers decode it.

What each event should read as is what the schemas declare, applied version by
version: a field keeps the value of the field of its name or of one of its
`aliases`, an enum value is renamed by `value_aliases`, a widening reads the same
value, a field that a payload lacks (or holds null for, where the field now has a
default) reads its default, None when optional. A stored event is *stranded* when
the last code cannot find its stream, raises, or reads other values than these.
Hand-written upcasters are not written here: schemas with `hand_written_upcast` are
outside the oracle.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import decimal
import enum
import importlib
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from aggregen.generator import pipeline
from aggregen.generator.wirekeys import domain_casing, wire_key
from aggregen.runtime import InMemoryEventStore, Repository
from aggregen.runtime.message import NewMessage, StreamWrite, uuid4_string

from ..generator.support import importable

__all__ = ["stranded"]

_ABSENT = object()
"""A key a payload does not hold (the field did not exist at its version)."""

_ROOT = Path(tempfile.mkdtemp(prefix="aggregen-oracle-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
_GENERATED: dict[str, Path] = {}


def generated(text: str) -> Path:
    """The directory `text` (one domain's schema) is generated into, once per text."""
    found = _GENERATED.get(text)
    if found is None:
        found = Path(tempfile.mkdtemp(dir=_ROOT))
        schemas = found / "schemas"
        schemas.mkdir(parents=True)
        (schemas / "domain.yaml").write_text(text, encoding="utf-8")
        pipeline.generate([schemas], found / "out")
        _GENERATED[text] = found
    return found / "out"


@dataclasses.dataclass(frozen=True)
class _Written:
    """One stored event: its stream, its aggregate's name and the values it should read."""

    stream: str
    category: str
    aggregate: str
    event_type: str
    values: dict[str, Any]


def stranded(versions: Sequence[str]) -> list[str]:
    """Why events written by each earlier version fail to read with the last; [] when none.

    `versions` are the schema texts of one domain, oldest first (at least two).
    """
    schemas: list[dict[str, Any]] = [yaml.safe_load(text) for text in versions]
    store = InMemoryEventStore()
    written: list[_Written] = []
    problems: list[str] = []
    for number, (text, schema) in enumerate(zip(versions, schemas, strict=True)):
        before = schemas[number - 1] if number else None
        written = [_evolve(item, before, schema) for item in written]
        with importable(generated(text), [schema["domain"]]):
            package = importlib.import_module(schema["domain"])
            if number < len(versions) - 1:
                written.extend(_write(store, package, schema))
                continue
            for item in written:
                problem = _read(store, package, item)
                if problem is not None:
                    problems.append(problem)
    return problems


# -- writing --------------------------------------------------------------------------


def _write(
    store: InMemoryEventStore, package: ModuleType, schema: Mapping[str, Any]
) -> list[_Written]:
    written = []
    for name, aggregate in (schema.get("aggregates") or {}).items():
        cls = getattr(package, name)
        for event_name, event in (aggregate.get("events") or {}).items():
            type_name = event.get("type", event_name)
            event_class = cls.__events__[type_name]
            fields = event.get("fields") or {}
            for variant in range(_variants(fields, schema) + 1):
                minimal = variant == _variants(fields, schema)
                values = {
                    field: _sample(_spec(spec), schema, variant, minimal)
                    for field, spec in fields.items()
                }
                kwargs = {
                    field: _python(value, _spec(fields[field]), schema, package)
                    for field, value in values.items()
                    if value is not _ABSENT
                }
                instance = event_class(**kwargs)
                stream = cls.stream_name(str(uuid.uuid4()))
                message = NewMessage(
                    uuid4_string(),
                    instance.type_name(),
                    instance.to_data(),
                    {"schemaVersion": event_class.__schema_version__},
                )
                store.append([StreamWrite(stream, -1, [message])])
                read_back = _read_back(values, fields, schema)
                written.append(_Written(stream, cls.__category__, name, type_name, read_back))
    return written


def _read_back(
    values: Mapping[str, Any], fields: Mapping[str, Any], schema: Mapping[str, Any]
) -> dict[str, Any]:
    """What `values` read as with the code that wrote them: defaults for absent ones."""
    result = {}
    for name, value in values.items():
        spec = _spec(fields[name])
        value_object = (schema.get("value_objects") or {}).get(spec.get("type"))
        if value is _ABSENT:
            result[name] = _default_of(spec, schema)
        elif isinstance(value, dict) and isinstance(value_object, dict):
            result[name] = _read_back(value, value_object.get("fields") or {}, schema)
        elif isinstance(value, list) and spec.get("type") == "List":
            item = {"value": spec.get("of") or "String"}
            result[name] = [_read_back({"value": v}, item, schema)["value"] for v in value]
        else:
            result[name] = value
    return result


def _spec(raw: object) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"type": raw}
    return dict(raw) if isinstance(raw, dict) else {"type": "String"}


def _variants(fields: Mapping[str, Any], schema: Mapping[str, Any]) -> int:
    """How many full events to write: enough to take every enum value once."""
    count = 2
    for raw in fields.values():
        count = max(count, len(_enum_values(_spec(raw), schema)))
    return count


def _enum_values(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    kind = spec.get("type")
    if kind == "Enum":
        return [str(v) for v in spec.get("values", [])]
    named = (schema.get("enums") or {}).get(kind)
    if isinstance(named, dict):
        return [str(v) for v in named.get("values", [])]
    if kind == "List":
        return _enum_values(_spec(spec.get("of") or "String"), schema)
    return []


def _sample(spec: Mapping[str, Any], schema: Mapping[str, Any], variant: int, minimal: bool) -> Any:
    """A representative normalised value of a field; `_ABSENT` left to its default."""
    required = spec.get("required") is True and spec.get("default") is None
    if minimal and not required:
        return _ABSENT
    kind = spec.get("type", "String")
    values = _enum_values(spec, schema)
    if kind == "List":
        item = _spec(spec.get("of") or "String")
        return [_sample(item, schema, variant + n, False) for n in range(2)]
    if values:
        return values[variant % len(values)]
    value_object = (schema.get("value_objects") or {}).get(kind)
    if isinstance(value_object, dict):  # every other event: only its required fields
        return {
            name: _sample(_spec(raw), schema, variant, variant % 2 == 1)
            for name, raw in (value_object.get("fields") or {}).items()
        }
    samples: dict[str, Any] = {
        "String": f"s{variant}",
        "Text": f"t{variant}",
        "Identifier": str(uuid.UUID(int=variant + 1)),
        "Integer": decimal.Decimal(7 + variant),
        "Float": decimal.Decimal("2.5") + variant,
        "Decimal": decimal.Decimal("3.25") + variant,
        "Boolean": variant % 2 == 0,
        "Date": datetime.datetime(2024, 5, 6 + variant, tzinfo=datetime.UTC),
        "DateTime": datetime.datetime(2024, 5, 6, 7, 8, 9 + variant, tzinfo=datetime.UTC),
    }
    return samples[kind]


def _python(
    value: Any, spec: Mapping[str, Any], schema: Mapping[str, Any], package: ModuleType
) -> Any:
    """The Python value the generated classes take for a normalised sample."""
    kind = spec.get("type", "String")
    if kind == "List":
        item = _spec(spec.get("of") or "String")
        return tuple(_python(v, item, schema, package) for v in value)
    if kind in (schema.get("enums") or {}):
        return getattr(package, kind)(value)
    value_object = (schema.get("value_objects") or {}).get(kind)
    if isinstance(value_object, dict):
        fields = value_object.get("fields") or {}
        return getattr(package, kind)(
            **{
                name: _python(v, _spec(fields[name]), schema, package)
                for name, v in value.items()
                if v is not _ABSENT
            }
        )
    if kind == "Integer":
        return int(value)
    if kind == "Float":
        return float(value)
    if kind == "Date":
        return value.date()
    return value


# -- what the schemas declare -----------------------------------------------------------


def _default_of(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    """What a field reads when its key is missing; `_STRANDED` when it is required."""
    if spec.get("default") is not None:
        return _normal(spec["default"], spec.get("type", "String"))
    if spec.get("type") == "List":
        return []
    if spec.get("required") is True:
        return _STRANDED
    return None


_STRANDED = "<missing required value>"


def _normal(value: Any, kind: str) -> Any:
    if kind in ("Integer", "Float", "Decimal") and not isinstance(value, bool):
        return decimal.Decimal(str(value))
    return value


def _evolve(
    item: _Written, before: Mapping[str, Any] | None, schema: Mapping[str, Any]
) -> _Written:
    """What `item` reads as under `schema`, by the evolution it declares from `before`."""
    if before is None:
        return item
    found = _event_of(schema, item.event_type)
    if found is None:
        return item
    name, aggregate, event = found
    _, _, old_event = _event_of(before, item.event_type) or ("", {}, {})
    values = _evolve_fields(
        item.values, old_event.get("fields") or {}, before, event.get("fields") or {}, schema
    )
    category = aggregate.get("category", name[:1].lower() + name[1:])
    return dataclasses.replace(
        item,
        aggregate=name,
        event_type=event.get("type", _event_name(aggregate, event)),
        values=values,
        category=item.category if category == item.category else "<changed>",
    )


def _event_of(
    schema: Mapping[str, Any], type_name: str
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(aggregate name, aggregate, event) of the event reading wire type `type_name`."""
    for name, aggregate in (schema.get("aggregates") or {}).items():
        for event_name, event in (aggregate.get("events") or {}).items():
            if type_name in (event.get("type", event_name), *event.get("aliases", [])):
                return name, aggregate, event
    return None


def _event_name(aggregate: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    for name, found in aggregate["events"].items():
        if found is event:
            return str(name)
    raise KeyError(event)


def _keys(fields: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> the key it is stored under."""
    casing = domain_casing(schema)
    return {name: wire_key(name, _spec(raw), casing) for name, raw in fields.items()}


def _evolve_fields(
    values: Mapping[str, Any],
    old_fields: Mapping[str, Any],
    before: Mapping[str, Any],
    fields: Mapping[str, Any],
    schema: Mapping[str, Any],
) -> dict[str, Any]:
    """The values of `fields` that payloads of `old_fields` holding `values` declare.

    A field takes the value of the old field of its name or of an alias, else of the
    old field stored under its own key.
    """
    keys = _keys(fields, schema)
    by_key = {key: name for name, key in _keys(old_fields, before).items()}
    result = {}
    for name, raw in fields.items():
        spec = _spec(raw)
        candidates = [name, *spec.get("aliases", [])]
        if keys[name] in by_key:
            candidates.append(by_key[keys[name]])
        source = next((c for c in candidates if values.get(c, _ABSENT) is not _ABSENT), None)
        value = values[source] if source is not None else None
        if value is None or value == _STRANDED:  # a later default repairs a missing value
            result[name] = _default_of(spec, schema)
        else:
            old_spec = _spec(old_fields.get(source or "", "String"))
            result[name] = _evolve_value(value, old_spec, before, spec, schema)
    return result


def _evolve_value(
    value: Any,
    old_spec: Mapping[str, Any],
    before: Mapping[str, Any],
    spec: Mapping[str, Any],
    schema: Mapping[str, Any],
) -> Any:
    kind = spec.get("type", "String")
    if kind == "List" and isinstance(value, list):
        item = _spec(spec.get("of") or "String")
        old_item = _spec(old_spec.get("of") or "String")
        return [_evolve_value(v, old_item, before, item, schema) for v in value]
    aliases = spec.get("value_aliases")
    named = (schema.get("enums") or {}).get(kind)
    if isinstance(named, dict):
        aliases = named.get("value_aliases")
    if isinstance(value, str) and isinstance(aliases, dict):
        return aliases.get(value, value)
    value_object = (schema.get("value_objects") or {}).get(kind)
    old_object = (before.get("value_objects") or {}).get(old_spec.get("type"))
    if isinstance(value_object, dict) and isinstance(value, dict):
        old_fields = (old_object or {}).get("fields") or {}
        return _evolve_fields(value, old_fields, before, value_object.get("fields") or {}, schema)
    return value


# -- reading --------------------------------------------------------------------------


def _read(store: InMemoryEventStore, package: ModuleType, item: _Written) -> str | None:
    """Why the last version's code does not read `item` as declared; None when it does."""
    where = f"{item.aggregate} {item.event_type} {item.values}"
    if item.category == "<changed>":
        return f"{where}: its stream category is gone"
    cls = getattr(package, item.aggregate, None)
    if cls is None:
        return f"{where}: no aggregate reads its stream"
    try:
        events = Repository(cls, store, snapshot_threshold=0).history(item.stream.split("-", 1)[1])
    except Exception as error:  # whatever reading raises: the event is stranded
        return f"{where}: {type(error).__name__}: {error}"
    read = {name: _normalised(getattr(events[0], name)) for name in item.values}
    if _STRANDED in item.values.values() or read != item.values:
        return f"{where}: read as {read}"
    return None


def _normalised(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {f.name: _normalised(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
