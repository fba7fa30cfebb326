"""Messages of the JetStream store as NATS carries them: payload, headers, and back.

A message's payload is `[data, metadata, id, type, position]` as JSON (one parse
decodes a page; the store reads the stream's last position from the leader before
each write); direct gets add the subject, sequence and time as headers. A read
decodes each message from its raw header block and payload (`decode`, fed by
`jetstream_wire`), looking only for the three headers it needs.

The position is in the payload rather than a header of its own: a batched direct
get costs nats-server CPU for each header a stored message carries. Messages that
earlier versions wrote, `[data, metadata, id, type]` with the header
`Aggregen-Position`, are read as well.
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
    "PageCache",
    "correlation_category",
    "decode",
    "encode",
    "header_block",
    "read_headers",
    "stored_position",
    "with_position",
]

POSITION = "Aggregen-Position"
EXPECTED = "Nats-Expected-Last-Subject-Sequence"
STATUS = b"NATS/1.0 "
"""How a status message's header block starts (`NATS/1.0 204 EOB` ends a direct get)."""


Encoded = tuple[str, bytes]
"""A message to publish: its id and its payload but the position (`with_position` ends it)."""


def encode(writes: Sequence[StreamWrite]) -> list[tuple[str, list[Encoded]]]:
    """Each write's stream name and messages, encoded; raises before anything is sent."""
    return [(write.stream_name, [_encoded(m) for m in write.messages]) for write in writes]


def _encoded(message: NewMessage) -> Encoded:
    message_id = check_message_id(message.id)
    metadata = b"null" if message.metadata is None else json_text(message.metadata)
    tail = orjson.dumps([message_id, message.type])[1:-1]  # `id,type`: both JSON strings
    return message_id, b"[" + json_text(message.data) + b"," + metadata + b"," + tail


def with_position(start: bytes, position: int) -> bytes:
    """The payload of an encoded message (`Encoded`'s second part) at stream `position`."""
    return b"%b,%d]" % (start, position)


_BLOCK_START = b"NATS/1.0\r\n"
_BLOCK_END = b"\r\n\r\n"


def header_block(headers: dict[str, str]) -> bytes:
    """`headers` as a NATS header block: `NATS/1.0`, a `Name: value` line each, an
    empty line. Names and values are the store's own (no line breaks to refuse)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


_READ = re.compile(
    rb"\r\n(Nats-Subject|Nats-Sequence|Nats-Time-Stamp|Aggregen-Position): *([^\r]*)"
)


def read_headers(raw: bytes | None) -> dict[bytes, bytes]:
    """The headers the store reads (`Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp`,
    `Aggregen-Position`) that a NATS header block holds, by name.

    A block is `NATS/1.0`, `Name: value` lines, an empty line; only the four lines
    are read (a direct get has nine; nats-py parses every character of each).
    Raises `ValueError` for no block, a status block (`NATS/1.0 204 EOB`), or a
    block cut short.
    """
    if raw is None or not raw.startswith(_BLOCK_START) or not raw.endswith(_BLOCK_END):
        raise ValueError(f"not a NATS header block: {(raw or b'')[:60]!r}")
    return dict(_READ.findall(raw))


def stored_time(stamp: str) -> datetime.datetime:
    """A JetStream timestamp (RFC 3339, nanoseconds, `Z`) as an aware datetime.

    Raises `ValueError` for another form.
    """
    if len(stamp) == 30 and stamp[19] == "." and stamp[29] == "Z":  # all nine digits
        return datetime.datetime.fromisoformat(f"{stamp[:26]}+00:00")
    main, _, fraction = stamp.removesuffix("Z").partition(".")
    return datetime.datetime.fromisoformat(f"{main}.{fraction[:6].ljust(6, '0')}+00:00")


class PageCache:
    """What the messages of one page share, decoded once: stream names by subject (a
    page mostly holds one stream) and times by time stamp (the messages of one atomic
    batch have one)."""

    __slots__ = ("names", "times")

    def __init__(self) -> None:
        self.names: dict[bytes, str] = {}
        self.times: dict[bytes, datetime.datetime] = {}


_SERVED = re.compile(
    rb"\r\nNats-Subject: ([^\r]*)\r\nNats-Sequence: (\d+)\r\nNats-Time-Stamp: ([^\r]*)\r\n"
)
"""The three lines a direct get adds that the store reads, in the order nats-server
writes them: read with one search (`decode`'s fast path)."""


def decode(raw: bytes | None, payload: bytes, cache: PageCache) -> RecordedMessage:
    """One message of a direct get as received: its header block and payload.

    `cache` holds what the page's messages decoded so far share, filled here. Raises
    `StreamDataError`, naming the stream and position as far as they can be read,
    for a header block that cannot be read or lacks a header the store needs, and
    for a payload that is not `[data, metadata, id, type, position]` as JSON.
    """
    served = None
    if raw is not None and raw.startswith(_BLOCK_START) and raw.endswith(_BLOCK_END):
        served = _SERVED.search(raw)
    if served is None:
        return _decode_any_order(raw, payload, cache)
    subject, sequence, stamp = served.groups()
    try:
        name, time = _name_and_time(subject, stamp, cache)
    except ValueError as error:
        raise StreamDataError(*_where(raw, payload), f"unreadable headers: {error}") from None
    return _message(raw, name, int(sequence), time, payload)


def _decode_any_order(raw: bytes | None, payload: bytes, cache: PageCache) -> RecordedMessage:
    """`decode` for a header block whose lines are not in nats-server's order (or are
    missing): each line the store reads, found wherever it is."""
    try:
        headers = read_headers(raw)
        subject = headers[b"Nats-Subject"]
        sequence = int(headers[b"Nats-Sequence"])
        name, time = _name_and_time(subject, headers[b"Nats-Time-Stamp"], cache)
    except (KeyError, ValueError) as error:
        problem = (
            f"missing header {error.args[0].decode()}"
            if isinstance(error, KeyError)
            else str(error)
        )
        raise StreamDataError(*_where(raw, payload), f"unreadable headers: {problem}") from None
    return _message(raw, name, sequence, time, payload)


def _name_and_time(subject: bytes, stamp: bytes, cache: PageCache) -> tuple[str, datetime.datetime]:
    """The stream name of `subject` and the time of `stamp`, decoded once a page
    (`cache`); raises `ValueError` for either that cannot be read."""
    name = cache.names.get(subject)
    if name is None:
        name = cache.names[subject] = stream_name_of(subject.decode().rstrip())
    time = cache.times.get(stamp)
    if time is None:
        time = cache.times[stamp] = stored_time(stamp.decode().rstrip())
    return name, time


def _message(
    raw: bytes | None, name: str, sequence: int, time: datetime.datetime, payload: bytes
) -> RecordedMessage:
    """The message whose payload is `payload` (`raw`: its header block, for the
    position of a message written before positions moved into the payload).

    Raises `StreamDataError` when the payload is not `[data, metadata, id, type,
    position]` as JSON with objects for data and metadata, strings for id and type,
    and a position from 0.
    """
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        problem = f"stored data is not readable JSON: {error}"
        raise StreamDataError(name, _unparsed_position(payload, raw), problem) from None
    if type(body) is not list or len(body) not in (4, 5):
        problem = "stored payload is not [data, metadata, id, type, position]"
        raise StreamDataError(name, _header_position(raw), problem)
    if len(body) == 5:
        data, metadata, message_id, type_name, position = body
        if type(position) is not int or position < 0:
            raise StreamDataError(name, -1, f"stored position is {position!r}, not a position")
    else:  # written before positions moved into the payload
        data, metadata, message_id, type_name = body
        position = _header_position(raw)
        if position < 0:
            raise StreamDataError(name, -1, f"unreadable headers: missing header {POSITION}")
    if type(data) is not dict or (metadata is not None and type(metadata) is not dict):
        raise not_an_object(name, position, data, metadata)
    if type(message_id) is not str or type(type_name) is not str:
        raise StreamDataError(name, position, "stored id or type is not a string")
    return _new_tuple(
        RecordedMessage, (message_id, name, type_name, position, sequence, data, metadata, time)
    )


_new_tuple = tuple.__new__
"""Makes a `RecordedMessage` from its fields without the Python `__new__` (one call less
a message of a page)."""

_POSITION = re.compile(rb"\r\nAggregen-Position: *(\d+)\r\n")


def _header_position(raw: bytes | None) -> int:
    """The position in the header `Aggregen-Position` (written before positions moved
    into the payload); -1 when there is none."""
    found = _POSITION.search(raw or b"")
    return int(found[1]) if found else -1


_END_POSITION = re.compile(rb",(\d+)\]\Z")


def _unparsed_position(payload: bytes, raw: bytes | None) -> int:
    """The position at the end of a payload that is not JSON, or in its header; -1."""
    found = _END_POSITION.search(payload[-24:])
    return int(found[1]) if found else _header_position(raw)


def stored_position(payload: bytes, raw_headers: bytes | None) -> int:
    """The position of a stored message from its payload, or from its header block for
    one written before positions moved into the payload; -1 when neither holds one."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _unparsed_position(payload, raw_headers)
    if type(body) is list and len(body) == 5 and type(body[4]) is int and body[4] >= 0:
        return int(body[4])
    return _header_position(raw_headers)


def _where(raw: bytes | None, payload: bytes) -> tuple[str, int]:
    """The stream name and position a message holds, as far as they can be read (`?`
    and -1 where not): for the error about a message that cannot be decoded."""
    headers = dict(_READ.findall(raw or b""))
    try:
        name = stream_name_of(headers[b"Nats-Subject"].decode().rstrip())
    except (KeyError, ValueError):
        name = "?"
    return name, stored_position(payload, raw)


def correlation_category(message: RecordedMessage) -> str | None:
    """The category of the message's `correlationStreamName`, as MessageDB filters on it."""
    correlation = (message.metadata or {}).get("correlationStreamName")
    return category_of(correlation) if isinstance(correlation, str) else None
