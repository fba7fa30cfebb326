"""From a stored message to a typed event: type lookup, upcasting, metadata, `from_data`.

`decode_event` is what handlers and `Repository.history` use. The repository's replay
loop does the same steps inlined for speed (a function call per event would cost
about a tenth of a replay); it shares `upcast`, `read_schema_version` and
`caused_metadata`, and `tests/test_decoding_paths.py` proves that both give the same
events.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from .errors import StreamDataError
from .event import Event, Metadata, read_schema_version
from .message import RecordedMessage

__all__ = [
    "UnknownEventTypeError",
    "caused_metadata",
    "decode_event",
    "metadata_of",
    "upcast",
]

_new_tuple = tuple.__new__  # builds Metadata without its Python-level __new__
_NO_METADATA: dict[str, Any] = {}


class UnknownEventTypeError(StreamDataError):
    """A stored message's type is not one of the events the reader knows."""


def upcast(event_class: type[Event], data: dict[str, Any], version: object) -> dict[str, Any]:
    """`data` stored at schema `version`, brought to `event_class`'s current version.

    Raises `ValueError` for a version that is not a whole number of at least 1 or is
    newer than the code, and whatever the event's upcaster raises.
    """
    current = event_class.__schema_version__
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"bad schema version {version!r}")
    if version > current:
        raise ValueError(
            f"schema version {version} is newer than {event_class.__name__}'s {current}: "
            "this code is older than the code that wrote the event"
        )
    return event_class.upcast(data, version)


def metadata_of(message: RecordedMessage, schema_version: int) -> Metadata:
    """The `Metadata` of a stored message (ids, position, time, causation)."""
    message_id, stream_name, _, position, global_position, _, extra, time = message
    return caused_metadata(
        message_id, time, stream_name, position, global_position, schema_version, extra or {}
    )


def caused_metadata(
    message_id: str,
    time: datetime.datetime,
    stream_name: str,
    position: int,
    global_position: int,
    schema_version: int,
    extra: Mapping[str, Any],
) -> Metadata:
    """The `Metadata` of a stored message, its correlation and causation read from `extra`.

    `extra` is the message's metadata, under Eventide's keys. The decoders build the
    metadata of a message with nothing but a schema version inline (most messages:
    a call costs) and call this for the others.
    """
    return _new_tuple(
        Metadata,
        (
            message_id,
            time,
            stream_name,
            position,
            global_position,
            schema_version,
            extra.get("correlationId"),
            extra.get("causationId"),
            extra.get("causationMessageStreamName"),
            extra.get("causationMessagePosition"),
            extra.get("causationMessageGlobalPosition"),
            extra.get("correlationStreamName"),
        ),
    )


def decode_event(events: Mapping[str, type[Event]], owner: str, message: RecordedMessage) -> Event:
    """The typed, upcast event of `message`, with its metadata.

    `events` maps stored type names to event classes; `owner` names the reader in
    errors. Raises `UnknownEventTypeError` for a type not in `events`, and
    `StreamDataError` (naming stream and position) for metadata or data that does not
    fit.
    """
    # Unpacked rather than read by attribute, as the replay does: a call an attribute.
    message_id, stream_name, type_name, position, global_position, data, extra, time = message
    event_class = events.get(type_name)
    if event_class is None:
        raise UnknownEventTypeError(
            stream_name, position, f"unknown event type {type_name!r} for {owner}"
        )
    if extra.__class__ is not dict:  # a class check first: `isinstance` is a call
        if extra is None:
            extra = _NO_METADATA
        elif not isinstance(extra, dict):
            raise StreamDataError(
                stream_name, position, f"metadata must be an object, not {extra!r}"
            )
    if data.__class__ is not dict and not isinstance(data, dict):
        raise StreamDataError(stream_name, position, f"data must be an object, not {data!r}")
    schema_version = extra.get("schemaVersion")
    try:
        if schema_version.__class__ is not int:  # Eventide writes "1", or nothing
            schema_version = read_schema_version(schema_version)
        if schema_version != event_class.__schema_version__:
            data = upcast(event_class, data, schema_version)
        if not extra or (len(extra) == 1 and "schemaVersion" in extra):  # most messages
            metadata = _new_tuple(
                Metadata,
                (
                    message_id,
                    time,
                    stream_name,
                    position,
                    global_position,
                    schema_version,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ),
            )
        else:
            metadata = caused_metadata(
                message_id, time, stream_name, position, global_position, schema_version, extra
            )
        return event_class.from_data(data, metadata)
    except KeyError as error:
        raise StreamDataError(
            stream_name, position, f"{type_name} lacks its field {error}"
        ) from error
    except Exception as error:  # whatever decoding or an upcaster raised: not this class
        raise StreamDataError(
            stream_name, position, f"{type_name} does not fit its class: {error}"
        ) from error
