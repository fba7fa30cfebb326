"""`ReadAhead`, `AsyncReadAhead`: the next batch of a category is read while one is handled.

A reader of a category waits for the database once per batch: the server runs the
query and sends the rows, then the reader decodes and handles them, one after the
other. Reading ahead overlaps the two: as soon as a full batch is read, the batch
after it is read in the background (on a worker thread, or in a task), and the
reader finds it ready when it asks for it. A read ahead is used only when it is
asked for from the same position, and only when it is full: a batch at the end of
the category is always read again when it is needed, so that whatever was written
in the meantime (by the handler too) is seen as without reading ahead, and so is a
read ahead that failed (its error is raised by the read that repeats it). Reading
ahead changes no position, so delivery is as before. Those rules are `_Ahead`'s,
shared by both faces. A batch is handed out only once the next read has started, so
that its query is on its way before the handler runs: the worker thread is waited
for until it starts, the task is given the event loop once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from .message import RecordedMessage

__all__ = ["AsyncReadAhead", "ReadAhead", "draining"]

_START_TIMEOUT = 1.0
"""Seconds a batch waits at most for the worker to start its read ahead (a busy machine
may take a while to schedule a thread; past this, the batch goes on without it)."""

P = TypeVar("P")


class _Ahead(Generic[P]):
    """The rules of reading ahead, whatever reads: after which batch, from where, and
    which read ahead to use. `P` is a read under way (a `Future` or a `Task`)."""

    def __init__(self, batch_size: int, enabled: bool) -> None:
        self._batch_size = batch_size
        self._enabled = enabled
        self._ahead: tuple[int, P] | None = None

    def _after(self, batch: list[RecordedMessage]) -> int | None:
        """Where to read ahead from after `batch`: only after a full one, when enabled."""
        if self._enabled and len(batch) == self._batch_size:
            return batch[-1].global_position + 1
        return None

    def _take(self, position: int) -> tuple[P | None, P | None]:
        """The read ahead to use for the batch from `position`, and one to drop (it read
        from elsewhere); at most one of them, and the reader forgets both."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None, None
        start, read = ahead
        return (read, None) if start == position else (None, read)

    def _forget(self) -> P | None:
        """The read ahead under way, if any, forgotten by the reader."""
        ahead, self._ahead = self._ahead, None
        return None if ahead is None else ahead[1]

    def _full(self, batch: list[RecordedMessage] | None) -> bool:
        """Whether a batch read ahead may be used: it did not fail (None) and is full (a
        short one is read again, with what was written since)."""
        return batch is not None and len(batch) == self._batch_size


class ReadAhead(_Ahead[Future[list[RecordedMessage]]]):
    """Reads batches with `read(position)`, the next full one ahead on a worker thread.

    `read` must be safe to call from another thread (the stores' `read_category`
    is). Not `enabled`, it only reads when asked. Call `close()` when done: it waits
    for a read in flight and ends the thread.
    """

    def __init__(
        self,
        read: Callable[[int], list[RecordedMessage]],
        batch_size: int,
        *,
        enabled: bool = True,
    ) -> None:
        super().__init__(batch_size, enabled)
        self._read = read
        self._executor: ThreadPoolExecutor | None = None

    def batch(self, position: int) -> list[RecordedMessage]:
        """The batch from global position `position`, and the next one read ahead if it is full.

        Raises what `read` raises. A read ahead that failed is read again here.
        """
        use, drop = self._take(position)
        if drop is not None:
            drop.cancel()  # a read already under way ends unheeded
        batch = None
        if use is not None:
            with contextlib.suppress(Exception):  # read again: its error is the one to raise
                batch = use.result()
        if batch is None or not self._full(batch):
            batch = self._read(position)
        after = self._after(batch)
        if after is not None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="aggregen-read-ahead")
            started = threading.Event()
            self._ahead = (after, self._executor.submit(self._read_started, after, started))
            # Until the worker waits for the database, this thread keeps the GIL, so
            # without this wait the query went out only when this thread next let go
            # of the GIL (at the end of the batch, or every 5 ms): the server's work
            # overlapped with nothing. Waiting for the worker to start hands it the
            # GIL, which it keeps until its query is sent and it waits for the answer.
            started.wait(_START_TIMEOUT)
        return batch

    def _read_started(self, position: int, started: threading.Event) -> list[RecordedMessage]:
        """`read(position)` on the worker thread, `started` set first."""
        started.set()
        return self._read(position)

    def close(self) -> None:
        """Forget the batch read ahead and end the worker thread, once its read is done."""
        ahead = self._forget()
        if ahead is not None:
            ahead.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class AsyncReadAhead(_Ahead[asyncio.Task[list[RecordedMessage]]]):
    """Reads batches with `await read(position)`, the next full one ahead in a task.

    The rules of `ReadAhead`. `read` must allow a second read while the handler uses
    the store (the async stores do). Not `enabled`, it only reads when asked. Await
    `close()` when done: it cancels a read in flight and waits for its task to end.
    """

    def __init__(
        self,
        read: Callable[[int], Coroutine[Any, Any, list[RecordedMessage]]],
        batch_size: int,
        *,
        enabled: bool = True,
    ) -> None:
        super().__init__(batch_size, enabled)
        self._read = read

    async def batch(self, position: int) -> list[RecordedMessage]:
        """The batch from global position `position`, and the next one read ahead if it is full.

        Raises what `read` raises. A read ahead that failed is read again here.
        Cancelled while it waits for a read ahead, that read is cancelled too.
        """
        use, drop = self._take(position)
        if drop is not None:
            await _ended(drop)
        batch = None
        if use is not None:
            with contextlib.suppress(Exception):  # read again: its error is the one to raise
                batch = await use
        if batch is None or not self._full(batch):
            batch = await self._read(position)
        after = self._after(batch)
        if after is not None:
            self._ahead = (after, asyncio.create_task(self._read(after)))
            # A handler that never waits keeps the loop until the batch ends, so the
            # task would only start then: one turn of the loop now lets it run until
            # it waits for the database, with its query sent.
            await asyncio.sleep(0)
        return batch

    async def close(self) -> None:
        """Cancel the read ahead, if any, and wait for its task to end."""
        ahead = self._forget()
        if ahead is not None:
            await _ended(ahead)


async def _ended(task: asyncio.Task[list[RecordedMessage]]) -> None:
    """Cancel `task` and wait for it to end, dropping its result or error (`cancel()`
    marks even a failed task's error as retrieved: the loop logs nothing)."""
    task.cancel()
    await asyncio.wait([task])


def draining(batch: list[RecordedMessage]) -> Iterator[RecordedMessage]:
    """The messages of `batch` in order, each let go as soon as the next is asked for.

    A reader that holds a whole batch while it handles it keeps every message alive
    through the garbage collector's young collections, which move them to the oldest
    generation, whose growth sets off full collections (about 0.3 us a message at
    100,000 messages). Handed out from a copy that drops each one, a message lives
    only while it is handled. The caller drops its own reference to `batch` (`batch`
    itself is not changed: a store may keep the list it returned).
    """
    pending = batch[::-1]
    del batch
    take = pending.pop
    while pending:
        yield take()
