"""Messages of the JetStream store as NATS carries them: payload, headers, and back.

A message's payload is `[data, metadata, id, type]` as JSON (one parse decodes a
page); its stream position is the header `Aggregen-Position` (the store reads it
from the leader before each write); direct gets add the subject, sequence and time.
Each header costs nats-py a parse per message read, so there is one of the store's.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

import orjson

from .category import category_of
from .errors import StreamDataError
from .jetstream_subjects import stream_name_of
from .message import NewMessage, RecordedMessage, StreamWrite, check_message_id
from .stored_data import json_text, not_an_object

__all__ = [
    "EXPECTED",
    "POSITION",
    "STATUS",
    "Encoded",
    "correlation_category",
    "decode",
    "encode",
    "header",
    "header_text",
]

POSITION = "Aggregen-Position"
EXPECTED = "Nats-Expected-Last-Subject-Sequence"
STATUS = b"NATS/1.0 "
"""How a status message's header block starts (`NATS/1.0 204 EOB` ends a direct get)."""


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


_BLOCK_START = "NATS/1.0\r\n"
_BLOCK_END = "\r\n\r\n"


def header_text(raw: bytes | None) -> str:
    """The text of a NATS header block: `NATS/1.0`, `Name: value` lines, an empty line.

    Raises `ValueError` for anything else: no block, a status block (`NATS/1.0 204
    EOB`), bytes that are not UTF-8, a block cut short.
    """
    text = (raw or b"").decode()
    if not text.startswith(_BLOCK_START) or not text.endswith(_BLOCK_END):
        raise ValueError(f"not a NATS header block: {text[:60]!r}")
    return text


def header(text: str, name: str) -> str:
    """The value of the first header `name` in a block `header_text` gave.

    Looks only for that line (a read needs four headers of nine; nats-py parses
    every character of every one). Raises `KeyError` when there is none.
    """
    start = text.find(f"\r\n{name}:")
    if start < 0:
        raise KeyError(name)
    start += len(name) + 3
    return text[start : text.index("\r\n", start)].strip()


def stored_time(stamp: str) -> datetime.datetime:
    """A JetStream timestamp (RFC 3339, nanoseconds, `Z`) as an aware datetime.

    Raises `ValueError` for another form.
    """
    if len(stamp) == 30 and stamp[19] == "." and stamp[29] == "Z":  # all nine digits
        return datetime.datetime.fromisoformat(f"{stamp[:26]}+00:00")
    main, _, fraction = stamp.removesuffix("Z").partition(".")
    return datetime.datetime.fromisoformat(f"{main}.{fraction[:6].ljust(6, '0')}+00:00")


def decode(raw: bytes | None, payload: bytes, names: dict[str, str]) -> RecordedMessage:
    """One message of a direct get as received: its header block and payload.

    `names` maps subjects to stream names, filled here (a page mostly holds one
    stream). Raises `StreamDataError`, naming the stream and position as far as
    they can be read, for a header block that cannot be read or lacks a header the
    store needs, and for a payload that is not `[data, metadata, id, type]` as JSON.
    """
    try:
        text = header_text(raw)
        subject = header(text, "Nats-Subject")
        name = names.get(subject) or names.setdefault(subject, stream_name_of(subject))
        position = int(header(text, POSITION))
        sequence = int(header(text, "Nats-Sequence"))
        time = stored_time(header(text, "Nats-Time-Stamp"))
    except (KeyError, ValueError) as error:
        problem = f"missing header {error}" if isinstance(error, KeyError) else str(error)
        raise StreamDataError(*_where(raw), f"unreadable headers: {problem}") from None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        problem = f"stored data is not readable JSON: {error}"
        raise StreamDataError(name, position, problem) from None
    if type(body) is not list or len(body) != 4:
        raise StreamDataError(name, position, "stored payload is not [data, metadata, id, type]")
    data, metadata, message_id, type_name = body
    if type(data) is not dict or (metadata is not None and type(metadata) is not dict):
        raise not_an_object(name, position, data, metadata)
    return RecordedMessage(message_id, name, type_name, position, sequence, data, metadata, time)


_SUBJECT = re.compile(rb"\r\nNats-Subject: *([^\r]+)")
_POSITION = re.compile(rb"\r\nAggregen-Position: *(-?[0-9]+)")


def _where(raw: bytes | None) -> tuple[str, int]:
    """The stream name and position a header block holds, as far as they can be read
    (`?` and -1 where not): for the error about a message that cannot be decoded."""
    subject = _SUBJECT.search(raw or b"")
    position = _POSITION.search(raw or b"")
    try:
        name = stream_name_of(subject[1].decode()) if subject else "?"
    except ValueError:
        name = "?"
    return name, int(position[1]) if position else -1


def correlation_category(message: RecordedMessage) -> str | None:
    """The category of the message's `correlationStreamName`, as MessageDB filters on it."""
    correlation = (message.metadata or {}).get("correlationStreamName")
    return category_of(correlation) if isinstance(correlation, str) else None
