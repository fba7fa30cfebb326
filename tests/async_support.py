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

from aggregen.runtime import AsyncEventStore, ConsumerGroup, RecordedMessage, StreamWrite

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
