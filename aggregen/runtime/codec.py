"""JSON-ready encoding of field values, and decoding them back by their annotation.

Dates and datetimes become ISO 8601 strings, UUIDs and Decimals strings, enums their
value, value objects (dataclasses) dicts. `decode` reverses `encode` for a type
annotation, so that a date stays a date and a Decimal a Decimal. Generated classes
carry their own straight-line code; this module serves hand-written classes.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson

__all__ = ["decode", "dumps", "encode", "loads"]


def dumps(value: Any) -> str:
    """Serialize JSON-ready data to a compact JSON string."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    """Parse a JSON document."""
    return orjson.loads(text)


def encode(value: Any) -> Any:
    """Turn a field value into JSON-ready data.

    Raises `TypeError` for unsupported values and `ValueError` for a non-finite float.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if value - value != 0.0:  # NaN, inf and -inf: JSON has no such number
            raise ValueError(f"cannot store the non-finite float {value!r}")
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if isinstance(value, list | tuple | frozenset | set):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    to_data = getattr(value, "to_data", None)
    if callable(to_data):
        return to_data()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


Decoder = Callable[[Any], Any]


def decode(annotation: Any, data: Any) -> Any:
    """Build the value of type `annotation` from JSON data; raises `TypeError`/`ValueError`."""
    return decoder_for(annotation)(data)


@cache
def decoder_for(annotation: Any) -> Decoder:
    """A function decoding JSON data into `annotation`, built once per annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return _identity
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(args)
    if origin is typing.Literal:
        return _literal_decoder(args)
    if origin in (list, tuple, frozenset, set) or annotation in (list, tuple):
        return _sequence_decoder(origin or annotation, args)
    if origin is collections.abc.Sequence:  # held as a tuple, as generated events hold lists
        return _sequence_decoder(tuple, args)
    if origin is dict or annotation is dict:
        item = decoder_for(args[1]) if args else _identity
        return lambda data: {str(k): item(v) for k, v in _expect(dict, data).items()}
    if isinstance(annotation, type):
        return _class_decoder(annotation)
    raise TypeError(f"cannot decode values annotated {annotation!r}")


def _identity(data: Any) -> Any:
    return data


def _expect(kind: type | tuple[type, ...], data: Any) -> Any:
    if not isinstance(data, kind) or (isinstance(data, bool) and kind in (int, float)):
        raise TypeError(f"expected {_kind_name(kind)}, got {type(data).__name__}")
    return data


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _union_decoder(args: tuple[Any, ...]) -> Decoder:
    options = [a for a in args if a is not type(None)]
    nullable = len(options) != len(args)
    if len(options) == 1:
        inner = decoder_for(options[0])
        if nullable:
            return lambda data: None if data is None else inner(data)
        return inner
    decoders = [decoder_for(a) for a in options]

    def decode_union(data: Any) -> Any:
        if data is None and nullable:
            return None
        for dec in decoders:
            try:
                return dec(data)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{data!r} fits none of {options!r}")

    return decode_union


def _literal_decoder(values: tuple[Any, ...]) -> Decoder:
    def decode_literal(data: Any) -> Any:
        if data not in values:
            raise ValueError(f"{data!r} is not one of {list(values)!r}")
        return data

    return decode_literal


def _sequence_decoder(container: Any, args: tuple[Any, ...]) -> Decoder:
    item = decoder_for(args[0]) if args and args[0] is not Ellipsis else _identity
    build: Callable[[Any], Any] = tuple if container is tuple else container

    def decode_sequence(data: Any) -> Any:
        return build([item(v) for v in _expect(list, data)])

    return decode_sequence


def _class_decoder(cls: type) -> Decoder:
    if cls is bool:
        return lambda data: _expect(bool, data)
    if cls is int:
        return lambda data: _expect(int, data)
    if cls is float:
        return lambda data: float(_expect((int, float), data))
    if cls is str:
        return lambda data: _expect(str, data)
    if cls is datetime.datetime:
        return lambda data: datetime.datetime.fromisoformat(_expect(str, data))
    if cls is datetime.date:
        return lambda data: datetime.date.fromisoformat(_expect(str, data))
    if cls is datetime.time:
        return lambda data: datetime.time.fromisoformat(_expect(str, data))
    if cls is decimal.Decimal:
        from .validation import decimal_from_data  # once per annotation

        return decimal_from_data
    if cls is uuid.UUID:
        return lambda data: uuid.UUID(_expect(str, data))
    if issubclass(cls, enum.Enum):
        return cls
    from_data = getattr(cls, "from_data", None)
    if callable(from_data):
        return lambda data: from_data(_expect(dict, data))
    if dataclasses.is_dataclass(cls):
        return _dataclass_decoder(cls)
    raise TypeError(f"cannot decode values of type {cls.__name__}")


def _dataclass_decoder(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, decoder_for(hints[f.name])) for f in dataclasses.fields(cls) if f.init]

    def decode_dataclass(data: Any) -> Any:
        mapping = _expect(dict, data)
        return cls(**{name: dec(mapping[name]) for name, dec in fields if name in mapping})

    return decode_dataclass
