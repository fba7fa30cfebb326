"""`AsyncConsumer`: the `Consumer` for asyncio, on an `AsyncEventStore`.

Only the I/O differs from `Consumer`: the settings, where a read starts, when a
batch is the last, the position bookkeeping, the position messages and the
`ConsumerError` are the synchronous consumer's own, so the two cannot drift.

Stopping, the asyncio way: `stop()`, or cancelling the task that runs `run()` or
`catch_up()`. Either way the position of the last message handled is recorded (when
cancelled, in a shielded write) before the loop ends; a cancelled task then re-raises
`CancelledError`. A message whose handler was cancelled half-way is not counted as
handled: it is delivered again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from .category import ConsumerGroup
from .causation import cause_in_effect
from .consumer import CategoryReading, PositionTracker, handler_failed, member_name
from .message import RecordedMessage
from .position_store import AsyncPositionStore
from .read_ahead import AsyncReadAhead
from .store import AsyncEventStore

__all__ = ["AsyncCategoryLoop", "AsyncConsumer", "AsyncMessageHandler"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class AsyncMessageHandler(Protocol):
    """Anything with an `async handle(message)` method: async generated handlers, yours."""

    async def handle(self, message: RecordedMessage) -> None:
        """Handle one message of the category."""


class AsyncCategoryLoop(CategoryReading[AsyncEventStore, asyncio.Event]):
    """What every async reader of a category shares: `catch_up`, `run` and `stop`.

    Subclasses say how a batch is read and handled (`_handle_batch`) and how the
    position is kept (`_start`, `_record`). While a batch is handled, the next one is
    read ahead in a task (see `AsyncReadAhead`) unless `read_ahead` is false. Raises
    `ValueError` or `StreamNameError` for settings that cannot work.
    """

    def __init__(
        self, store: AsyncEventStore, category: str, *, read_ahead: bool = True, **settings: Any
    ) -> None:
        super().__init__(store, category, **settings)
        self._read_ahead = AsyncReadAhead(self._read_from, self.batch_size, enabled=read_ahead)

    def _new_stop_flag(self) -> asyncio.Event:
        return asyncio.Event()  # a new one per run: an Event binds to the loop it waits in

    async def catch_up(self, *, handle_signals: bool = False) -> int:
        """Handle every message available now, record the position, and return how many.

        With `handle_signals` (on the main thread of a Unix event loop), SIGINT and
        SIGTERM let the current message finish, record the position and return early.
        Raises `ConsumerError` when the handler fails, after recording the position of
        the message before; `CancelledError` when cancelled, after recording.
        """
        self._stopping = self._new_stop_flag()  # of the running loop
        handled = 0
        with _signals_stop(self.stop, handle_signals):
            try:
                await self._start()
                while not self._stopping.is_set():
                    count, caught_up = await self._handle_batch()
                    handled += count
                    if caught_up:
                        break
            finally:
                try:
                    await self._read_ahead.close()
                finally:
                    await _shielded(self._record)
        return handled

    async def run(self, *, handle_signals: bool = False) -> None:
        """Handle messages as they come until `stop()` or cancellation.

        An idle loop polls every `poll_interval` seconds (`stop()` wakes it at once).
        With `handle_signals`, SIGINT and SIGTERM stop it as `stop()` does. Raises
        `ConsumerError` when the handler fails, after recording the position;
        `CancelledError` when cancelled, after recording.
        """
        self._stopping = self._new_stop_flag()  # of the running loop
        with _signals_stop(self.stop, handle_signals):
            try:
                await self._start()
                while not self._stopping.is_set():
                    _, caught_up = await self._handle_batch()
                    if caught_up:
                        await self._record()
                        await self._idle()
            finally:
                try:
                    await self._read_ahead.close()
                finally:
                    await _shielded(self._record)

    def stop(self) -> None:
        """Ask a running loop to stop after the message it is handling.

        Call it on the loop's thread; from another thread use
        `loop.call_soon_threadsafe(consumer.stop)`.
        """
        self._stopping.set()

    async def _idle(self) -> None:
        """Wait `poll_interval` seconds, or until `stop()`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_interval):
                await self._stopping.wait()

    async def _read_batch(self, position: int | None) -> list[RecordedMessage]:
        """The next batch after the global position `position` (None: from the start)."""
        return await self._read_ahead.batch(1 if position is None else position + 1)

    async def _read_from(self, start: int) -> list[RecordedMessage]:
        """The batch from global position `start` on (in this task or a read ahead's)."""
        _, options = self._read_options(start - 1)
        return await self.store.read_category(self.category, start, **options)

    async def _start(self) -> None:
        """Find the position to read from."""

    async def _handle_batch(self) -> tuple[int, bool]:
        """Handle one batch; return how many were handled and whether it was the last."""
        raise NotImplementedError

    async def _record(self) -> None:
        """Keep the position of the last message handled."""


class AsyncConsumer(AsyncCategoryLoop):
    """Reads `category` for an async `handler`, from the position recorded under `name`.

    The settings, position stream and semantics of `Consumer`: at least once, the
    position recorded every `position_update_interval` messages, when caught up and
    at the end. Events raised while the handler runs (also in tasks it creates) are
    caused by the message it handles. The next batch is read while one is handled,
    in a task, unless `read_ahead` is false. Raises `ValueError` or `StreamNameError` for
    settings that cannot work.
    """

    def __init__(
        self,
        store: AsyncEventStore,
        category: str,
        handler: AsyncMessageHandler,
        *,
        name: str,
        position_update_interval: int = 100,
        batch_size: int = 1000,
        poll_interval: float = 0.1,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
        read_ahead: bool = True,
    ) -> None:
        super().__init__(
            store,
            category,
            batch_size=batch_size,
            poll_interval=poll_interval,
            consumer_group=consumer_group,
            correlation=correlation,
            read_ahead=read_ahead,
        )
        self._tracker = PositionTracker(position_update_interval)
        self.handler = handler
        self.position_update_interval = position_update_interval
        self.name = member_name(name, consumer_group)
        self.positions = AsyncPositionStore(store, category, self.name)

    @property
    def position(self) -> int | None:
        """The global position of the last message handled (or recorded), None before any."""
        return self._tracker.position

    async def _start(self) -> None:
        if not self._tracker.started():
            self._tracker.start(await self.positions.get())

    async def _handle_batch(self) -> tuple[int, bool]:
        messages, last = self._handing_out(await self._read_batch(self._tracker.position))
        handle = self.handler.handle
        tracker = self._tracker
        interval = tracker.interval
        stopping = self._stopping
        handled = 0
        set_cause = cause_in_effect.set
        token = set_cause(None)  # the cause before the batch, restored after it
        try:
            for message in messages:
                # As `Consumer._handle_batch`: one set per message, one reset per batch.
                # A task the handler creates copies the context as it is then, so it
                # keeps this message as its cause; nothing else runs in this context.
                set_cause(message)
                try:
                    await handle(message)
                except Exception as error:
                    await self._record()
                    raise handler_failed(
                        f"consumer {self.name!r}", self.handler, message, error
                    ) from error
                handled += 1
                tracker.position = message[4]  # `PositionTracker.handled`, inline
                tracker.unrecorded += 1
                if tracker.unrecorded >= interval:
                    await self._record()
                if stopping.is_set():
                    return handled, True
        finally:
            cause_in_effect.reset(token)
        return handled, last

    async def _record(self) -> None:
        """Record the position if it moved since it was last recorded."""
        position = self._tracker.unrecorded_position()
        if position is not None:
            await self.positions.put(position)
        self._tracker.mark_recorded(position)


async def _shielded(record: Callable[[], Awaitable[None]]) -> None:
    """Run `record()` to its end even when the running task is being cancelled.

    A cancellation that arrives meanwhile is re-raised once the record is written
    (cancellation wins over an error of the record).
    """
    task = asyncio.ensure_future(record())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller sees
        raise


class _LoopSignals:
    """The stops to call on SIGINT or SIGTERM in one event loop, and the handlers before."""

    def __init__(self) -> None:
        self.stops: list[Callable[[], None]] = []
        self.previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}

    def stop_all(self) -> None:
        for stop in list(self.stops):
            stop()


_loop_signals: dict[asyncio.AbstractEventLoop, _LoopSignals] = {}


@contextmanager
def _signals_stop(stop: Callable[[], None], enabled: bool) -> Iterator[None]:
    """While running: SIGINT and SIGTERM call `stop` (and every other loop's in this event loop).

    Only on the main thread of an event loop that handles signals (not on Windows);
    the handlers in place before are put back when the last loop ends.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    signals = _loop_signals.get(loop) or _installed(loop)
    if signals is None:
        yield
        return
    signals.stops.append(stop)
    try:
        yield
    finally:
        signals.stops.remove(stop)
        if not signals.stops:
            del _loop_signals[loop]
            for signum, previous in signals.previous.items():
                loop.remove_signal_handler(signum)
                signal.signal(signum, previous)


def _installed(loop: asyncio.AbstractEventLoop) -> _LoopSignals | None:
    """Install the stopping handlers in `loop`; None when it cannot handle signals."""
    signals = _LoopSignals()
    try:
        for signum in _SIGNALS:
            loop.add_signal_handler(signum, signals.stop_all)
    except NotImplementedError:  # Windows' event loops
        return None
    _loop_signals[loop] = signals
    return signals
