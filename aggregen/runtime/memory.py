"""`InMemoryEventStore`: MessageDB's behaviour in a process, for tests and examples."""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import orjson

from .errors import DuplicateMessageError, EventStoreError, ExpectedVersionError
from .message import RecordedMessage, StreamWrite, check_message_id

__all__ = ["InMemoryEventStore"]


class _Stored(NamedTuple):
    id: str
    type: str
    position: int
    global_position: int
    data: bytes
    metadata: bytes | None
    time: datetime.datetime


_Encoded = tuple[str, str, bytes, bytes | None]

_PAGE = 1000
"""Messages decoded at a time by `read`, as MessageDB's store reads them."""


_NUL_ESCAPE = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")
"""`\u0000` in JSON text, not preceded by an escaped backslash: a NUL character."""


def _json(value: object) -> bytes:
    """`value` as JSON, refused as MessageDB refuses it: PostgreSQL's JSON has no NUL."""
    encoded = orjson.dumps(value)
    if b"u0000" in encoded and _NUL_ESCAPE.search(encoded):
        raise EventStoreError(
            "event store failed: unsupported Unicode escape sequence "
            "(\\u0000 cannot be converted to text)"
        )
    return encoded


class InMemoryEventStore:
    """Streams kept in memory, with MessageDB's positions, version checks and errors.

    Messages are stored as JSON, as MessageDB stores them, so what is read back is a
    fresh copy and data that MessageDB would refuse is refused here too. Appends are
    atomic and thread-safe.
    """

    def __init__(self) -> None:
        self._streams: dict[str, list[_Stored]] = {}
        self._ids: dict[str, str] = {}
        self._global_position = 0
        self._lock = threading.Lock()

    def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none; see `EventStore.append`.

        Appending messages that are all stored already (the retry of a commit)
        succeeds without storing them again, as on MessageDB.
        """
        encoded = [
            [
                (
                    check_message_id(m.id),
                    m.type,
                    _json(m.data),
                    None if m.metadata is None else _json(m.metadata),
                )
                for m in write.messages
            ]
            for write in writes
        ]
        ordered = sorted(zip(writes, encoded, strict=True), key=lambda pair: pair[0].category)
        with self._lock:
            try:
                self._check(ordered)
            except (ExpectedVersionError, DuplicateMessageError):
                if all(
                    self._ids.get(message_id) == write.stream_name
                    for write, messages in ordered
                    for message_id, *_ in messages
                ):
                    return
                raise
            self._store(ordered)

    def _check(self, ordered: list[tuple[StreamWrite, list[_Encoded]]]) -> None:
        """Raise the error MessageDB would raise for these writes, if any."""
        versions: dict[str, int] = {}
        new_ids: set[str] = set()
        for write, messages in ordered:
            name = write.stream_name
            version = versions.get(name, len(self._streams.get(name, ())) - 1)
            expected = write.expected_version
            for message_id, *_ in messages:
                if expected is not None:
                    if expected != version:
                        raise ExpectedVersionError(name, expected, version)
                    expected += 1
                if message_id in self._ids or message_id in new_ids:
                    raise DuplicateMessageError(message_id)
                new_ids.add(message_id)
                version += 1
            versions[name] = version

    def _store(self, ordered: list[tuple[StreamWrite, list[_Encoded]]]) -> None:
        now = datetime.datetime.now(datetime.UTC)
        for write, messages in ordered:
            stream = self._streams.setdefault(write.stream_name, [])
            for message_id, type_name, data, metadata in messages:
                self._global_position += 1
                stream.append(
                    _Stored(
                        message_id,
                        type_name,
                        len(stream),
                        self._global_position,
                        data,
                        metadata,
                        now,
                    )
                )
                self._ids[message_id] = write.stream_name

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on; see `EventStore.read`.

        Messages are decoded a page at a time: one JSON parse for the page's data and
        one for its metadata, which costs half of a parse per message.
        """
        stream = self._streams.get(stream_name)
        if not stream:
            return
        end = len(stream)
        new_tuple = tuple.__new__  # the named tuple without its Python-level __new__
        for start in range(max(position, 0), end, _PAGE):
            page = stream[start : min(start + _PAGE, end)]
            datas = orjson.loads(b"[" + b",".join([stored.data for stored in page]) + b"]")
            metadatas = orjson.loads(
                b"["
                + b",".join([b"null" if s.metadata is None else s.metadata for s in page])
                + b"]"
            )
            for stored, data, metadata in zip(page, datas, metadatas, strict=True):
                yield new_tuple(
                    RecordedMessage,
                    (
                        stored.id,
                        stream_name,
                        stored.type,
                        stored.position,
                        stored.global_position,
                        data,
                        metadata,
                        stored.time,
                    ),
                )

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        stream = self._streams.get(stream_name)
        if not stream:
            return None
        return next(self.read(stream_name, stream[-1].position))

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        return len(self._streams.get(stream_name, ())) - 1

    def close(self) -> None:
        """Nothing to release; present for symmetry with `MessageDBEventStore`."""
