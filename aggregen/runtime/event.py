"""`Event`, the base of immutable domain events, and the `Metadata` they carry."""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from typing import Any, ClassVar, Self

from .codec import decoder_for, encode
from .record import TupleRecord, defaults_of, field

__all__ = ["Event", "Metadata", "field_setters", "read_schema_version"]


class Metadata(TupleRecord):
    """Where and when an event was stored, and which message caused it.

    `position` is the event's place in its stream (0 first), `global_position` its
    place in the whole store (known once read back). The causation fields name the
    message the event was raised in reaction to (see `aggregen.runtime.causation`),
    stored under Eventide's keys. A named tuple (see `aggregen.runtime.record`): cheap to
    build for every event read.
    """

    __slots__ = ()
    _fields = __match_args__ = (
        "id",
        "time",
        "stream_name",
        "position",
        "global_position",
        "schema_version",
        "correlation_id",
        "causation_id",
        "causation_stream_name",
        "causation_position",
        "causation_global_position",
        "correlation_stream_name",
    )

    def __new__(
        cls,
        id: str,
        time: datetime.datetime | None = None,
        stream_name: str | None = None,
        position: int | None = None,
        global_position: int | None = None,
        schema_version: int = 1,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        causation_stream_name: str | None = None,
        causation_position: int | None = None,
        causation_global_position: int | None = None,
        correlation_stream_name: str | None = None,
    ) -> Self:
        return tuple.__new__(
            cls,
            (
                id,
                time,
                stream_name,
                position,
                global_position,
                schema_version,
                correlation_id,
                causation_id,
                causation_stream_name,
                causation_position,
                causation_global_position,
                correlation_stream_name,
            ),
        )

    _field_defaults = defaults_of(__new__)
    id: str = field(0)
    time: datetime.datetime | None = field(1)
    stream_name: str | None = field(2)
    position: int | None = field(3)
    global_position: int | None = field(4)
    schema_version: int = field(5)
    correlation_id: str | None = field(6)
    causation_id: str | None = field(7)
    causation_stream_name: str | None = field(8)
    causation_position: int | None = field(9)
    causation_global_position: int | None = field(10)
    correlation_stream_name: str | None = field(11)


def read_schema_version(value: object) -> int:
    """A stored `schemaVersion` as the version it means, read the way Eventide writes it.

    aggregen writes an int. Eventide and other MessageDB clients write a string such as
    `"1"`, or nothing at all: null and a missing key mean version 1. Raises `ValueError`
    for anything else (a bool, a float, a string that is not a whole number, a version
    below 1).
    """
    if value is None:
        return 1
    if isinstance(value, int) and not isinstance(value, bool):
        version = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        version = int(value)
    else:
        raise ValueError(f"bad schema version {value!r}")
    if version < 1:
        raise ValueError(f"bad schema version {value!r}")
    return version


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of events: immutable dataclasses with a wire type name and a schema version.

    Subclasses are `@dataclass(frozen=True, slots=True, kw_only=True)` classes; they
    may set `__type_name__` (the stored type, default the class name) and
    `__schema_version__` (default 1). `to_data` and `from_data` convert to and from
    JSON-ready dicts; generated events override them with code written per event.
    Two events are equal when their fields are equal, whatever their metadata.
    """

    __type_name__: ClassVar[str] = ""
    __schema_version__: ClassVar[int] = 1

    metadata: Metadata | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def type_name(cls) -> str:
        """The type name stored with the event."""
        return cls.__dict__.get("__type_name__") or cls.__name__

    def to_data(self) -> dict[str, Any]:
        """The event's fields as JSON-ready data."""
        return {name: encode(getattr(self, name)) for name, _ in _field_decoders(type(self))}

    @classmethod
    def upcast(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Turn the data of an older schema `version` of this event into current data.

        Called when a stored event's schema version is older than
        `__schema_version__`. Events whose schema evolved override it (generated
        upcasters, or hand-written ones); this default raises `ValueError`.
        """
        raise ValueError(
            f"{cls.__name__} is at schema version {cls.__schema_version__} and has no "
            f"upcaster from version {version}"
        )

    @classmethod
    def from_data(cls, data: dict[str, Any], metadata: Metadata | None = None) -> Self:
        """Rebuild an event from `to_data` output; raises `TypeError`, `ValueError`, `KeyError`."""
        values = {name: decode(data[name]) for name, decode in _field_decoders(cls) if name in data}
        return cls(metadata=metadata, **values)


_FieldDecoders = tuple[tuple[str, typing.Callable[[Any], Any]], ...]
_decoders_cache: dict[type[Event], _FieldDecoders] = {}


def _field_decoders(cls: type[Event]) -> _FieldDecoders:
    found = _decoders_cache.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _decoders_cache[cls] = tuple(
            (f.name, decoder_for(hints[f.name]))
            for f in dataclasses.fields(cls)
            if f.name != "metadata" and f.init
        )
    return found


def field_setters(
    event_class: type[Event], *names: str
) -> tuple[typing.Callable[[Any, Any], None], ...]:
    """The setters of `metadata` and of each field in `names` of a slotted event class.

    A generated `from_data` sets a new event's fields with them: past `frozen`, as
    `object.__setattr__` does, without looking the attribute up again each time (a
    two-field event decodes in about a twentieth less). Raises `TypeError` for a
    name that is not a slot of the class.
    """
    setters = []
    for name in ("metadata", *names):
        slot = next((k.__dict__[name] for k in event_class.__mro__ if name in k.__dict__), None)
        if not isinstance(slot, types.MemberDescriptorType):
            raise TypeError(f"{event_class.__name__}.{name} is not a slot")
        setters.append(slot.__set__)
    return tuple(setters)
