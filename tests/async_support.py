"""Run the synchronous conformance suites against the async stores.

`SyncFacade` gives an `AsyncEventStore` the synchronous `EventStore` interface by
running each call on an event loop in a thread of its own. Every conformance test
that takes the `store` fixture then also checks the async stores: the same
assertions, so the two faces cannot drift.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from aggregen.runtime import (
    AsyncConsumer,
    AsyncEventStore,
    Consumer,
    ConsumerGroup,
    RecordedMessage,
    StreamWrite,
)

T = TypeVar("T")


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


class SyncFacade:
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
