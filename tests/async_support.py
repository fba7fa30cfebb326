"""Support for the async tests: the sync suites on async stores, and pool health.

`SyncFacade` gives an `AsyncEventStore` the synchronous `EventStore` interface by
running each call on an event loop in a thread of its own. Every conformance test
that takes the `store` fixture then also checks the async stores: the same
assertions, so the two faces cannot drift.

`run` runs a coroutine and fails when the event loop reported a problem (a task
destroyed while pending, an exception never retrieved); `tagged`, `settle` and
`assert_pool_healthy` check that an async MessageDB store leaks no connection, on
its side and on the server's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
import pytest

from aggregen.runtime import (
    AsyncConsumer,
    AsyncEventStore,
    AsyncMessageDBEventStore,
    Consumer,
    ConsumerGroup,
    RecordedMessage,
    StreamWrite,
)
from aggregen.runtime.store import ClosingStore

T = TypeVar("T")
Admin = psycopg.Connection[tuple[object, ...]]


class EventLoopThread:
    """An event loop running in a daemon thread, for calling coroutines from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SyncFacade(ClosingStore):
    """An `AsyncEventStore` behind the synchronous `EventStore` interface."""

    def __init__(self, store: AsyncEventStore, loop: EventLoopThread) -> None:
        self.inner = store
        self.loop = loop

    def append(self, writes: Sequence[StreamWrite]) -> None:
        self.loop.run(self.inner.append(writes))

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        async def collect() -> list[RecordedMessage]:
            return [m async for m in self.inner.read(stream_name, position)]

        return iter(self.loop.run(collect()))

    def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        return self.loop.run(
            self.inner.read_category(
                category,
                position,
                batch_size=batch_size,
                consumer_group=consumer_group,
                correlation=correlation,
            )
        )

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        return self.loop.run(self.inner.read_last(stream_name))

    def stream_version(self, stream_name: str) -> int:
        return self.loop.run(self.inner.stream_version(stream_name))

    def close(self) -> None:
        self.loop.run(self.inner.close())


class AsyncFacadeHandler:
    """An async handler that calls a synchronous one (named like it, for error messages)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def handle(self, message: RecordedMessage) -> None:
        self.inner.handle(message)


def async_handler(inner: Any) -> AsyncFacadeHandler:
    """`inner` behind `AsyncMessageHandler`, its class name kept for `ConsumerError`."""
    named = type(type(inner).__name__, (AsyncFacadeHandler,), {})
    named.__qualname__ = type(inner).__qualname__
    handler: AsyncFacadeHandler = named(inner)
    return handler


class SyncLoopFacade:
    """An `AsyncConsumer` or `AsyncProjector` behind the synchronous loop's interface."""

    def __init__(self, inner: Any, loop: EventLoopThread) -> None:
        self.inner = inner
        self.loop = loop

    def catch_up(self) -> int:
        count: int = self.loop.run(self.inner.catch_up())
        return count

    def run(self) -> None:
        self.loop.run(self.inner.run())

    def stop(self) -> None:
        self.loop.loop.call_soon_threadsafe(self.inner.stop)

    @property
    def position(self) -> int | None:
        position = self.inner.position
        if callable(position):  # AsyncProjector.position() is awaited
            found: int | None = self.loop.run(position())
            return found
        return position  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def consumer_for(store: Any, category: str, handler: Any, **options: Any) -> Any:
    """The consumer of `store`'s face: a `Consumer`, or on a `SyncFacade` an `AsyncConsumer`.

    Lets the consumer conformance tests, written for `Consumer`, check `AsyncConsumer`
    on the async stores with the same assertions.
    """
    if not isinstance(store, SyncFacade):
        return Consumer(store, category, handler, **options)
    consumer = AsyncConsumer(store.inner, category, async_handler(handler), **options)
    return SyncLoopFacade(consumer, store.loop)


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main())`, failing when the loop reported a problem meanwhile."""
    reported: list[dict[str, Any]] = []

    async def watched() -> T:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context)
        )
        return await main()

    result = asyncio.run(watched())
    assert reported == [], reported
    return result


def tagged(uri: str) -> tuple[str, str]:
    """`uri` with an application name of its own, and the name: to find its backends."""
    name = f"aggregen-async-{uuid.uuid4().hex[:10]}"
    return f"{uri}?application_name={name}", name


async def settle(admin: Admin, application: str, open_connections: int) -> None:
    """Wait until the server has `open_connections` backends of `application`, all idle.

    A backend whose client closed its connection mid-statement finishes the statement
    (a cancelled commit may still be stored) before it ends: only then is the
    outcome of a cancelled commit final.
    """
    query = (
        "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity "
        "WHERE application_name = %s"
    )
    row: tuple[object, ...] | None = None
    for _ in range(1000):
        row = admin.execute(query, (application,)).fetchone()
        if row == (open_connections, 0):
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"backends of the store: {row}, expected {open_connections} idle ones")


def assert_pool_healthy(store: AsyncMessageDBEventStore) -> None:
    """Nothing in use, nobody waiting, every idle connection open and idle."""
    pool = store._pool
    assert len(pool._waiters) == 0, "a task still waits"
    assert pool._open == len(pool._idle), "a connection leaked"
    for conn in pool._idle:
        assert not conn.closed
        assert not conn.broken
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
