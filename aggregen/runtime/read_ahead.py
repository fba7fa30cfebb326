"""`ReadAhead`: a category's next batch is read while the current one is handled.

A reader of a category waits for the database once per batch: the server runs the
query and sends the rows, then the reader decodes and handles them, one after the
other. Reading ahead overlaps the two: as soon as a full batch is read, the batch
after it is read on a worker thread, and the reader finds it ready when it asks for
it. A read ahead is used only when it is asked for from the same position, and only
when it is full: a batch at the end of the category is always read again when it is
needed, so that whatever was written in the meantime (by the handler too) is seen as
without reading ahead, and so is a read ahead that failed (its error is raised by the
read that repeats it). Reading ahead changes no position, so delivery is as before.
The reader hands a batch out only once the worker has started the next read, so that
the query is on its way before the handler takes the GIL back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .message import RecordedMessage

__all__ = ["ReadAhead", "draining"]

_START_TIMEOUT = 1.0
"""Seconds a batch waits at most for the worker to start its read ahead (a busy machine
may take a while to schedule a thread; past this, the batch goes on without it)."""


class ReadAhead:
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
        self._read = read
        self._batch_size = batch_size
        self._enabled = enabled
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, Future[list[RecordedMessage]]] | None = None

    def batch(self, position: int) -> list[RecordedMessage]:
        """The batch from global position `position`, and the next one read ahead if it is full.

        Raises what `read` raises. A read ahead that failed is read again here.
        """
        batch = self._take(position)
        if batch is None:
            batch = self._read(position)
        if self._enabled and len(batch) == self._batch_size:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="aggregen-read-ahead")
            after = batch[-1].global_position + 1
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

    def _take(self, position: int) -> list[RecordedMessage] | None:
        """The full batch read ahead from `position`, if there is one; drops any other."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        start, future = ahead
        if start != position:
            future.cancel()  # a read already under way ends unheeded
            return None
        try:
            batch = future.result()
        except Exception:  # read again when asked for: the error then is the one to raise
            return None
        return batch if len(batch) == self._batch_size else None

    def close(self) -> None:
        """Forget the batch read ahead and end the worker thread, once its read is done."""
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


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
