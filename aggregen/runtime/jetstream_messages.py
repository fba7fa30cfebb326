"""Messages of the JetStream store as NATS carries them: payload, headers, and back.

A message's payload is `[data, metadata, id, type]` as JSON (one parse decodes a
page); its stream position is the header `Aggregen-Position` (the store reads it
from the leader before each write); direct gets add the subject, sequence and time.
Each header costs nats-py a parse per message read, so there is one of the store's.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from .category import category_of
from .errors import StreamDataError
from .jetstream_subjects import stream_name_of
from .message import NewMessage, RecordedMessage, StreamWrite, check_message_id
from .stored_data import json_text, not_an_object

if TYPE_CHECKING:
    from nats.aio.msg import Msg

__all__ = [
    "EXPECTED",
    "POSITION",
    "Encoded",
    "correlation_category",
    "decode",
    "encode",
    "parse_headers",
]

POSITION = "Aggregen-Position"
EXPECTED = "Nats-Expected-Last-Subject-Sequence"


Encoded = tuple[str, bytes]
"""A message to publish: its id and payload (`[data, metadata, id, type]` as JSON)."""


def encode(writes: Sequence[StreamWrite]) -> list[tuple[str, list[Encoded]]]:
    """Each write's stream name and messages, encoded; raises before anything is sent."""
    return [(write.stream_name, [_encoded(m) for m in write.messages]) for write in writes]


def _encoded(message: NewMessage) -> Encoded:
    message_id = check_message_id(message.id)
    metadata = b"null" if message.metadata is None else json_text(message.metadata)
    tail = orjson.dumps([message_id, message.type])[1:]  # `id,type]`: both as JSON strings
    return message_id, b"[" + json_text(message.data) + b"," + metadata + b"," + tail


def parse_headers(raw: bytes) -> dict[str, str]:
    """Headers of a message as the JetStream API gives them (`NATS/1.0` then lines)."""
    headers: dict[str, str] = {}
    for line in raw.decode().split("\r\n")[1:]:
        name, separator, value = line.partition(":")
        if separator:
            headers[name.strip()] = value.strip()
    return headers


def stored_time(stamp: str) -> datetime.datetime:
    """A JetStream timestamp (RFC 3339, nanoseconds, `Z`) as an aware datetime."""
    main, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(f"{main}.{fraction[:6].ljust(6, '0')}+00:00")


def decode(page: Sequence[Msg]) -> list[RecordedMessage]:
    """Messages of a direct get page, their payloads parsed in one JSON parse."""
    try:
        bodies = orjson.loads(b"[" + b",".join([m.data for m in page]) + b"]")
    except orjson.JSONDecodeError as error:
        headers = page[0].headers or {}
        raise StreamDataError(
            stream_name_of(headers.get("Nats-Subject", "?.s.?._")),
            int(headers.get(POSITION, -1)),
            f"stored data is not readable JSON: {error}",
        ) from None
    decoded: list[RecordedMessage] = []
    for message, body in zip(page, bodies, strict=True):
        headers = message.headers or {}
        name = stream_name_of(headers["Nats-Subject"])
        position = int(headers[POSITION])
        if type(body) is not list or len(body) != 4:
            raise StreamDataError(
                name, position, "stored payload is not [data, metadata, id, type]"
            )
        data, metadata, message_id, type_name = body
        if type(data) is not dict or (metadata is not None and type(metadata) is not dict):
            raise not_an_object(name, position, data, metadata)
        decoded.append(
            RecordedMessage(
                message_id,
                name,
                type_name,
                position,
                int(headers["Nats-Sequence"]),
                data,
                metadata,
                stored_time(headers["Nats-Time-Stamp"]),
            )
        )
    return decoded


def correlation_category(message: RecordedMessage) -> str | None:
    """The category of the message's `correlationStreamName`, as MessageDB filters on it."""
    correlation = (message.metadata or {}).get("correlationStreamName")
    return category_of(correlation) if isinstance(correlation, str) else None
