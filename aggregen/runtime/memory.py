"""`InMemoryEventStore`: MessageDB's behaviour in a process, for tests and examples."""

from __future__ import annotations

import bisect
import datetime
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from itertools import repeat
from typing import Any, NamedTuple

import orjson

from .category import ConsumerGroup, category_of, check_batch_size, check_category
from .errors import (
    DuplicateMessageError,
    ExpectedVersionError,
    StreamDataError,
    version_conflict,
)
from .message import RecordedMessage, StreamWrite, check_message_id
from .store import AsyncClosingStore, ClosingStore
from .stored_data import json_text as _json
from .stored_data import not_an_object

__all__ = ["AsyncInMemoryEventStore", "InMemoryEventStore"]


class _Stored(NamedTuple):
    id: str
    stream_name: str
    type: str
    position: int
    global_position: int
    data: bytes
    metadata: bytes | None
    time: datetime.datetime


_Encoded = tuple[str, str, bytes, bytes | None]

_OBJECT = frozenset({dict})
_OBJECT_OR_NULL = frozenset({dict, type(None)})

_PAGE = 1000
"""Messages decoded at a time by `read`, as MessageDB's store reads them."""


class InMemoryEventStore(ClosingStore):
    """Streams kept in memory, with MessageDB's positions, version checks and errors.

    Messages are stored as JSON, as MessageDB stores them, so what is read back is a
    fresh copy and data that MessageDB would refuse is refused here too. Appends are
    atomic and thread-safe.
    """

    def __init__(self) -> None:
        self._streams: dict[str, list[_Stored]] = {}
        self._categories: dict[str, list[_Stored]] = {}
        """Each category's messages in global order, as `get_category_messages` reads them."""
        self._ids: dict[str, str] = {}
        self._global_position = 0
        self._lock = threading.Lock()

    def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none; see `EventStore.append`.

        Appending messages that are all stored already (the retry of a commit)
        succeeds without storing them again, as on MessageDB.
        """
        # Category by category, as MessageDB writes them: also the order in which a
        # message that cannot be made (id, data) is found, so the same error is raised.
        writes = sorted(writes, key=_category)
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
        ordered = list(zip(writes, encoded, strict=True))
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
                        raise version_conflict(name, expected, version)
                    expected += 1
                if message_id in self._ids or message_id in new_ids:
                    raise DuplicateMessageError(message_id)
                new_ids.add(message_id)
                version += 1
            versions[name] = version

    def _store(self, ordered: list[tuple[StreamWrite, list[_Encoded]]]) -> None:
        now = datetime.datetime.now(datetime.UTC)
        for write, messages in ordered:
            if not messages:  # no stream, no category: MessageDB writes nothing either
                continue
            name = write.stream_name
            stream = self._streams.setdefault(name, [])
            category = self._categories.setdefault(category_of(name), [])
            for message_id, type_name, data, metadata in messages:
                self._global_position += 1
                stored = _Stored(
                    message_id,
                    name,
                    type_name,
                    len(stream),
                    self._global_position,
                    data,
                    metadata,
                    now,
                )
                stream.append(stored)
                category.append(stored)
                self._ids[message_id] = name

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on; see `EventStore.read`.

        Messages are decoded a page at a time (see `_decode`). Raises `StreamDataError`
        (naming stream and position) for a message whose data is not a JSON object or
        whose metadata is neither an object nor null.
        """
        stream = self._streams.get(stream_name)
        if not stream:
            return
        end = len(stream)
        for start in range(max(position, 0), end, _PAGE):
            yield from _decode(stream[start : min(start + _PAGE, end)])

    def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages from a global position; see `EventStore`."""
        check_category(category)
        check_batch_size(batch_size)
        if correlation is not None:
            check_category(correlation, "correlation category")
        with self._lock:
            messages = self._categories.get(category, [])
            start = bisect.bisect_left(messages, position, key=_global_position)
            if consumer_group is None and correlation is None:
                return _decode(messages[start : start + batch_size])
            chosen: list[_Stored] = []
            for stored in messages[start:]:
                if consumer_group is not None and not consumer_group.takes(stored.stream_name):
                    continue
                if correlation is not None and _correlation_category(stored) != correlation:
                    continue
                chosen.append(stored)
                if len(chosen) == batch_size:
                    break
            return _decode(chosen)

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None; see `read` for what it raises."""
        stream = self._streams.get(stream_name)
        if not stream:
            return None
        return next(self.read(stream_name, stream[-1].position))

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        return len(self._streams.get(stream_name, ())) - 1

    def categories(self) -> list[str]:
        """Every category with a message, sorted (see `aggregen.runtime.copy.CategoryListing`)."""
        with self._lock:
            return sorted(self._categories)

    def close(self) -> None:
        """Nothing to release; present for symmetry with `MessageDBEventStore`."""


def _category(write: StreamWrite) -> str:
    return write.category


def _global_position(stored: _Stored) -> int:
    return stored.global_position


def _correlation_category(stored: _Stored) -> str | None:
    """The category of the message's `correlationStreamName`, as MessageDB filters on it."""
    if stored.metadata is None:
        return None
    metadata = orjson.loads(stored.metadata)
    correlation = metadata.get("correlationStreamName") if isinstance(metadata, dict) else None
    return category_of(correlation) if isinstance(correlation, str) else None


def _decode(page: Sequence[_Stored]) -> list[RecordedMessage]:
    """Decode stored messages with one JSON parse for all their data and one for all their
    metadata (half of a parse per message), and build them without a Python loop."""
    if not page:
        return []
    ids, streams, types, positions, global_positions, raw_data, raw_metadata, times = zip(
        *page, strict=True
    )
    datas = orjson.loads(b"[" + b",".join(raw_data) + b"]")
    metadatas = orjson.loads(b"[" + b",".join([m or b"null" for m in raw_metadata]) + b"]")
    # JSON this store wrote with orjson always reads back: no decode error to catch.
    # One check per page, at C speed: a type other than dict (or None for metadata)?
    if not _OBJECT.issuperset(map(type, datas)) or not _OBJECT_OR_NULL.issuperset(
        map(type, metadatas)
    ):
        raise _not_an_object(page, datas, metadatas)
    fields = zip(
        ids, streams, types, positions, global_positions, datas, metadatas, times, strict=True
    )
    # the named tuple without its Python-level __new__, mapped in C
    return list(map(tuple.__new__, repeat(RecordedMessage), fields))


def _not_an_object(
    page: Sequence[_Stored], datas: list[Any], metadatas: list[Any]
) -> StreamDataError:
    """The error for the first message of `page` whose data or metadata is not an object."""
    for stored, data, metadata in zip(page, datas, metadatas, strict=True):
        if type(data) is not dict or (metadata is not None and type(metadata) is not dict):
            return not_an_object(stored.stream_name, stored.position, data, metadata)
    raise AssertionError("a message of the page is not an object")


class AsyncInMemoryEventStore(AsyncClosingStore):
    """`InMemoryEventStore` for asyncio: the same store, its methods awaited.

    Nothing here waits on I/O, so each method runs its synchronous twin: the two
    cannot behave differently. `sync` is the synchronous store holding the streams.
    """

    def __init__(self, sync: InMemoryEventStore | None = None) -> None:
        self.sync = InMemoryEventStore() if sync is None else sync

    async def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none; see `InMemoryEventStore.append`."""
        self.sync.append(writes)

    async def read(self, stream_name: str, position: int = 0) -> AsyncIterator[RecordedMessage]:
        """The stream's messages from `position` on; see `InMemoryEventStore.read`."""
        for message in self.sync.read(stream_name, position):
            yield message

    async def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages; see `InMemoryEventStore.read_category`."""
        return self.sync.read_category(
            category,
            position,
            batch_size=batch_size,
            consumer_group=consumer_group,
            correlation=correlation,
        )

    async def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        return self.sync.read_last(stream_name)

    async def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        return self.sync.stream_version(stream_name)

    async def categories(self) -> list[str]:
        """Every category with a message, sorted; see `InMemoryEventStore.categories`."""
        return self.sync.categories()

    async def close(self) -> None:
        """Nothing to release."""
