"""What is wrong with a stored message that a store cannot hand out: the `StreamDataError`.

Stores decode each message's data and metadata from JSON. A message whose data is
not a JSON object, whose metadata is neither a JSON object nor absent, or whose
JSON cannot be read (SQL NULL data, a number beyond a double's range, nesting deeper
than the decoder allows) was written by something other than aggregen or corrupted
later. The stores call these functions only once they found such a message, so the
checks cost nothing while the data is sound.
"""

from __future__ import annotations

import re

import orjson

from .errors import EventStoreError, StreamDataError

__all__ = ["json_text", "not_an_object", "undecodable"]

_NUL_ESCAPE = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")
"""`\u0000` in JSON text, not preceded by an escaped backslash: a NUL character."""


def json_text(value: object) -> bytes:
    """`value` as JSON, refused as MessageDB refuses it: PostgreSQL's JSON has no NUL.

    Raises `EventStoreError` for a NUL character, `TypeError` for what JSON cannot hold.
    The stores that keep JSON themselves (in memory, JetStream) encode with this.
    """
    encoded = orjson.dumps(value)
    if b"u0000" in encoded and _NUL_ESCAPE.search(encoded):
        raise EventStoreError(
            "event store failed: unsupported Unicode escape sequence "
            "(\\u0000 cannot be converted to text)"
        )
    return encoded


def undecodable(
    stream_name: str, position: int, raw_data: object, raw_metadata: object
) -> StreamDataError:
    """The error for a message whose stored data or metadata is not readable JSON."""
    if raw_data is None:
        return StreamDataError(stream_name, position, "stored data is SQL NULL, not a JSON object")
    for what, raw in (("data", raw_data), ("metadata", raw_metadata)):
        if raw is None:
            continue
        try:
            orjson.loads(raw)  # type: ignore[arg-type]
        except orjson.JSONDecodeError as error:
            return StreamDataError(
                stream_name, position, f"stored {what} is not readable JSON: {error}"
            )
    return StreamDataError(stream_name, position, "stored data is not readable JSON")


def not_an_object(
    stream_name: str, position: int, data: object, metadata: object
) -> StreamDataError:
    """The error for a message whose data is not a JSON object, or metadata not one or null."""
    if type(data) is not dict:
        return StreamDataError(
            stream_name, position, f"stored data is {_json_kind(data)}, not a JSON object"
        )
    return StreamDataError(
        stream_name,
        position,
        f"stored metadata is {_json_kind(metadata)}, not a JSON object or null",
    )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"
