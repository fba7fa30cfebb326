"""`AsyncRepository`: `Repository` for asyncio, on an `AsyncEventStore`.

Only the I/O differs: every step that decides something (the snapshot threshold,
whether a snapshot fits, the replay, the writes of a commit, which snapshots are
due) is the synchronous repository's own function, so the two cannot drift.
Aggregates, events and commands stay plain synchronous code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from .aggregate import Aggregate
from .config import check_threshold
from .decoding import decode_event
from .errors import StreamDataError
from .event import Event
from .message import RecordedMessage
from .replica import replica_reads
from .repository import (
    _logger,
    _replay,
    check_stored_class,
    check_version,
    committed,
    effective_threshold,
    found_history,
    pending_writes,
    rehydrated,
    snapshot_from,
    snapshot_matches,
    snapshot_write,
)
from .store import AsyncEventStore
from .stream_name import snapshot_stream_name
from .unit_of_work import AsyncUnitOfWork, active_unit_of_work

__all__ = ["AsyncRepository", "commit_async"]

A = TypeVar("A", bound=Aggregate)

_PAGE = 1000
"""Events replayed at a time: the async read is gathered in pages, then replayed."""


class AsyncRepository(Generic[A]):
    """Adds and gets aggregates of one class in an async event store.

    The same semantics and errors as `Repository`; `add`, `get`, `exists` and
    `history` are awaited. `snapshot_threshold` overrides the class's and the
    global setting.
    """

    def __init__(
        self,
        aggregate_class: type[A],
        store: AsyncEventStore,
        *,
        snapshot_threshold: int | None = None,
    ) -> None:
        self.aggregate_class = aggregate_class
        self.store = store
        self._threshold = (
            None
            if snapshot_threshold is None
            else check_threshold(snapshot_threshold, "snapshot_threshold")
        )

    def snapshot_threshold(self) -> int:
        """Events between snapshots for this repository; 0 means no snapshots."""
        return effective_threshold(self._threshold, self.aggregate_class)

    async def add(self, aggregate: A) -> None:
        """Store the aggregate's pending events; see `Repository.add`.

        Inside an `AsyncUnitOfWork` on this repository's store they are written when
        the unit commits; otherwise at once.
        """
        check_stored_class(self, aggregate)
        unit = active_unit_of_work(self.store)
        if unit is not None:
            if not isinstance(unit, AsyncUnitOfWork):
                raise TypeError("an async store's unit of work is `async with AsyncUnitOfWork`")
            unit.register(self, aggregate)
        else:
            await commit_async(self.store, [(self, aggregate)])

    async def get(
        self, aggregate_id: str, *, version: int | None = None, from_replica: bool = False
    ) -> A:
        """The aggregate's state; see `Repository.get` for `from_replica` and what it raises."""
        check_version(version)
        store = replica_reads(self.store) if from_replica else self.store
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        snapshot = None
        if self.snapshot_threshold():
            message = await self._read_snapshot(store, aggregate_id)
            snapshot = snapshot_from(cls, aggregate_id, message, version)
        messages: AsyncIterator[RecordedMessage] | None = None
        if snapshot is not None:
            # Read from the snapshot's own version: its event must be there.
            messages = aiter(store.read(stream, snapshot[0]._version))
            first = await anext(messages, None)
            if not snapshot_matches(stream, *snapshot, first):
                await _close(messages)
                snapshot = None
        if snapshot is None or messages is None:
            aggregate = cls._blank(aggregate_id)
            messages = aiter(store.read(stream))
        else:
            aggregate = snapshot[0]
        try:
            page: list[RecordedMessage] = []
            async for message in messages:
                if version is not None and message.position > version:
                    break
                page.append(message)
                if len(page) == _PAGE:
                    _replay(aggregate, stream, page)
                    page = []
            _replay(aggregate, stream, page)
        finally:
            await _close(messages)
        return rehydrated(aggregate, stream, version)

    async def exists(self, aggregate_id: str, *, from_replica: bool = False) -> bool:
        """Whether the aggregate has any event stored (`from_replica`: as `get`)."""
        store = replica_reads(self.store) if from_replica else self.store
        return await store.stream_version(self.aggregate_class.stream_name(aggregate_id)) >= 0

    async def history(self, aggregate_id: str, *, from_replica: bool = False) -> list[Event]:
        """The aggregate's events, oldest first; see `Repository.history`."""
        store = replica_reads(self.store) if from_replica else self.store
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        events = [
            decode_event(cls.__events__, cls.__name__, message)
            async for message in store.read(stream)
        ]
        return found_history(cls, aggregate_id, stream, events)

    async def _read_snapshot(
        self, store: AsyncEventStore, aggregate_id: str
    ) -> RecordedMessage | None:
        """The newest snapshot message; None (logged) when there is none or it is unreadable."""
        stream = snapshot_stream_name(self.aggregate_class.category(), aggregate_id)
        try:
            return await store.read_last(stream)
        except StreamDataError as error:
            _logger().warning("ignoring snapshot %s: %s", stream, error)
            return None

    async def _write_snapshot(self, aggregate: Aggregate, event_id: str) -> None:
        """Store the aggregate's state after its event `event_id`; failures are logged."""
        try:
            write = snapshot_write(self.aggregate_class, aggregate, event_id)
            await self.store.append([write])
        except Exception:
            _logger().warning("could not write a snapshot of %s", aggregate.id, exc_info=True)


async def commit_async(store: AsyncEventStore, entries: list[tuple[Any, Aggregate]]) -> None:
    """Write the pending events of every aggregate in one atomic append; see `commit`."""
    writes = pending_writes(entries)
    if not writes:
        return
    await store.append(writes)
    for repository, aggregate, event_id in committed(entries):
        await repository._write_snapshot(aggregate, event_id)


async def _close(messages: AsyncIterator[RecordedMessage]) -> None:
    """Finish an async generator read part-way, so that it releases what it holds."""
    close = getattr(messages, "aclose", None)
    if close is not None:
        await close()
