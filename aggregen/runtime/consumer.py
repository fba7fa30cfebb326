"""`Consumer`: reads a category from its recorded position and hands each message on.

Modelled on Eventide's consumers: the consumer reads its category in batches from
the position after the last one it recorded, calls its handler for each message in
global order, and records its position every `position_update_interval` messages,
when it has caught up and when it stops. Delivery is at least once: after a crash,
at most `position_update_interval` messages are handled again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Generic, Protocol, TypeVar

from .category import ConsumerGroup, check_batch_size, check_category
from .causation import cause_in_effect
from .errors import AggregenError, StreamNameError
from .message import RecordedMessage
from .position_store import PositionStore
from .read_ahead import ReadAhead, draining
from .store import EventStore

__all__ = [
    "CategoryLoop",
    "CategoryReading",
    "Consumer",
    "ConsumerError",
    "MessageHandler",
    "PositionTracker",
    "handler_failed",
    "member_name",
]

S = TypeVar("S")
F = TypeVar("F")


class MessageHandler(Protocol):
    """Anything with a `handle(message)` method: generated handlers, projections, yours."""

    def handle(self, message: RecordedMessage) -> None:
        """Handle one message of the category."""


class ConsumerError(AggregenError):
    """A handler failed: the consumer stopped at the message it could not handle.

    The consumer's position was recorded up to the message before, so a restarted
    consumer starts with this message again. The handler's exception is the cause.
    `consumer` says which reader stopped (`consumer 'name'` or `projection 'name'`).
    """

    def __init__(self, consumer: str, handler: str, message: RecordedMessage, problem: str) -> None:
        self.consumer = consumer
        self.handler = handler
        self.stream_name = message.stream_name
        self.position = message.position
        self.global_position = message.global_position
        self.message_type = message.type
        super().__init__(
            f"{consumer} stopped: {handler} failed on {message.type} "
            f"at {message.stream_name!r} position {message.position} "
            f"(global position {message.global_position}): {problem}"
        )


class CategoryReading(Generic[S, F]):
    """What every reader of a category shares, sync or async: its store, its settings
    (checked) and its stop flag `F` (set by `stop()`).

    Says where a read starts and when a batch is the last one for now. Raises
    `ValueError` or `StreamNameError` for settings that cannot work.
    """

    def __init__(
        self,
        store: S,
        category: str,
        *,
        batch_size: int,
        poll_interval: float,
        consumer_group: ConsumerGroup | None,
        correlation: str | None,
    ) -> None:
        self.category = check_category(category)
        self.batch_size = check_batch_size(batch_size)
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be above 0 seconds, not {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.consumer_group = consumer_group
        if correlation is not None:
            check_category(correlation, "correlation category")
        self.correlation = correlation
        self.store = store
        self._stopping = self._new_stop_flag()

    def _new_stop_flag(self) -> F:
        """A cleared stop flag: a `threading.Event` or an `asyncio.Event`."""
        raise NotImplementedError

    def _read_options(self, position: int | None) -> tuple[int, dict[str, Any]]:
        """The `read_category` arguments after global position `position` (None: from 1)."""
        return 1 if position is None else position + 1, {
            "batch_size": self.batch_size,
            "consumer_group": self.consumer_group,
            "correlation": self.correlation,
        }

    def _is_last(self, batch: list[RecordedMessage]) -> bool:
        """Whether `batch` reached the end of the category, for now (a short batch)."""
        return len(batch) < self.batch_size

    def _handing_out(self, batch: list[RecordedMessage]) -> tuple[Iterator[RecordedMessage], bool]:
        """The messages of `batch`, each let go once handled (`draining`), and `_is_last`.

        Pass the batch straight from the read, keeping no reference to it, so that
        handled messages are freed while the rest of the batch is handled.
        """
        return draining(batch), self._is_last(batch)


class CategoryLoop(CategoryReading[EventStore, threading.Event]):
    """What every synchronous reader of a category shares: `catch_up`, `run` and `stop`.

    Subclasses say how a batch is read and handled (`_handle_batch`) and how the
    position is kept (`_start`, `_record`). While a batch is handled, the next one is
    read ahead (see `ReadAhead`) unless `read_ahead` is false. Raises `ValueError` or
    `StreamNameError` for settings that cannot work.
    """

    def __init__(
        self, store: EventStore, category: str, *, read_ahead: bool = True, **settings: Any
    ) -> None:
        super().__init__(store, category, **settings)
        self._read_ahead = ReadAhead(self._read_from, self.batch_size, enabled=read_ahead)

    def _new_stop_flag(self) -> threading.Event:
        return threading.Event()

    def catch_up(self, *, handle_signals: bool = True) -> int:
        """Handle every message available now, record the position, and return how many.

        The count includes messages a handler skipped. With `handle_signals` (and on
        the main thread), SIGINT and SIGTERM let the current message finish, record
        the position and return early. Raises `ConsumerError` when the handler fails,
        after recording the position of the message before.
        """
        self._stopping.clear()
        self._start()
        handled = 0
        with self._signals_stop_this(handle_signals):
            try:
                while not self._stopping.is_set():
                    count, caught_up = self._handle_batch()
                    handled += count
                    if caught_up:
                        break
            finally:
                self._read_ahead.close()
                self._record()
        return handled

    def run(self, *, handle_signals: bool = True) -> None:
        """Handle messages as they come until `stop()` (or SIGINT or SIGTERM) is called.

        With `handle_signals` (and on the main thread), SIGINT and SIGTERM let the
        current message finish, record the position and return. An idle loop polls
        every `poll_interval` seconds. Raises `ConsumerError` when the handler fails,
        after recording the position.
        """
        self._stopping.clear()
        self._start()
        with self._signals_stop_this(handle_signals):
            try:
                while not self._stopping.is_set():
                    _, caught_up = self._handle_batch()
                    if caught_up:
                        self._record()
                        self._stopping.wait(self.poll_interval)
            finally:
                self._read_ahead.close()
                self._record()

    def stop(self) -> None:
        """Ask a running loop to stop after the message it is handling (thread-safe)."""
        self._stopping.set()

    def _read_batch(self, position: int | None) -> list[RecordedMessage]:
        """The next batch after the global position `position` (None: from the start)."""
        return self._read_ahead.batch(1 if position is None else position + 1)

    def _read_from(self, start: int) -> list[RecordedMessage]:
        """The batch from global position `start` on (called on two threads)."""
        _, options = self._read_options(start - 1)
        return self.store.read_category(self.category, start, **options)

    def _start(self) -> None:
        """Find the position to read from."""

    def _handle_batch(self) -> tuple[int, bool]:
        """Handle one batch; return how many were handled and whether it was the last."""
        raise NotImplementedError

    def _record(self) -> None:
        """Keep the position of the last message handled."""

    @contextmanager
    def _signals_stop_this(self, enabled: bool) -> Iterator[None]:
        """While running: SIGINT and SIGTERM call `stop()` (main thread only)."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop_on_signal(signum: int, frame: FrameType | None) -> None:
            self.stop()

        previous = {
            signum: signal.signal(signum, stop_on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def member_name(name: str, group: ConsumerGroup | None) -> str:
    """`name`, or `{name}+{member}of{size}` for a member of a consumer group.

    Raises `StreamNameError` for a name that is empty, holds white space, control
    characters or `+` (which marks a group member's name), or is not a str.
    """
    if not isinstance(name, str) or not name or "+" in name:
        raise StreamNameError(
            f"invalid consumer name {name!r}: a non-empty name without '+' (it marks a "
            "consumer group member's name)"
        )
    return name if group is None else f"{name}+{group.member}of{group.size}"


def handler_failed(
    consumer: str, handler: object, message: RecordedMessage, error: Exception
) -> ConsumerError:
    """The `ConsumerError` for `handler` failing on `message` (raise it `from error`)."""
    return ConsumerError(consumer, type(handler).__qualname__, message, repr(error))


class PositionTracker:
    """A consumer's position bookkeeping, sync or async: where it is and when to record.

    `position` is the global position of the last message handled (or recorded);
    `due()` says whether `interval` messages were handled since the last record.
    Raises `ValueError` for an interval that is not an int of at least 1.
    """

    __slots__ = ("interval", "position", "recorded", "unrecorded")

    def __init__(self, interval: int) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f"position_update_interval must be an int of at least 1, not {interval!r}"
            )
        self.interval = interval
        self.position: int | None = None
        self.recorded: int | None = None
        self.unrecorded = 0
        """Messages handled since the position was last recorded."""

    def started(self) -> bool:
        """Whether the recorded position was read already (or a message handled)."""
        return self.position is not None

    def start(self, recorded: int | None) -> None:
        """Begin from the recorded position `recorded`."""
        self.position = self.recorded = recorded

    def handled(self, message: RecordedMessage) -> bool:
        """Move past `message`; return whether the position is due to be recorded."""
        self.position = message.global_position
        self.unrecorded += 1
        return self.unrecorded >= self.interval

    def unrecorded_position(self) -> int | None:
        """The position to record, or None when it did not move since the last record."""
        return self.position if self.position != self.recorded else None

    def mark_recorded(self, position: int | None) -> None:
        """`position` (when not None) is recorded now; start counting again."""
        if position is not None:
            self.recorded = position
        self.unrecorded = 0


class Consumer(CategoryLoop):
    """Reads `category` for `handler`, from the position recorded under `name`.

    `consumer_group` makes this consumer one member of a group: it reads only its
    member's streams, and records its position under `{name}+{member}of{size}`.
    `correlation` (a category) keeps only messages correlated with it. `batch_size`
    messages are read at a time, the next batch while one is handled unless
    `read_ahead` is false (for a store that cannot be read from two threads); an idle
    consumer polls every `poll_interval` seconds. Raises `ValueError` or
    `StreamNameError` for settings that cannot work.
    """

    def __init__(
        self,
        store: EventStore,
        category: str,
        handler: MessageHandler,
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
        self.positions = PositionStore(store, category, self.name)

    @property
    def position(self) -> int | None:
        """The global position of the last message handled (or recorded), None before any."""
        return self._tracker.position

    def _start(self) -> None:
        if not self._tracker.started():
            self._tracker.start(self.positions.get())

    def _handle_batch(self) -> tuple[int, bool]:
        messages, last = self._handing_out(self._read_batch(self._tracker.position))
        handle = self.handler.handle
        tracker = self._tracker
        interval = tracker.interval
        stopping = self._stopping
        handled = 0
        set_cause = cause_in_effect.set
        token = set_cause(None)  # the cause before the batch, restored after it
        try:
            for message in messages:
                # Events the handler raises are caused by it. One set per message, one
                # reset per batch: a context copied while handling a message (a task,
                # a thread) keeps that message as its cause.
                set_cause(message)
                try:
                    handle(message)
                except Exception as error:
                    self._record()
                    raise handler_failed(
                        f"consumer {self.name!r}", self.handler, message, error
                    ) from error
                handled += 1
                # `PositionTracker.handled`, inline: with `stopping` bound once, the
                # loop's own cost went from 0.35 to 0.26 us a message (pre-read batches).
                tracker.position = message[4]  # its global position
                tracker.unrecorded += 1
                if tracker.unrecorded >= interval:
                    self._record()
                if stopping.is_set():
                    return handled, True
        finally:
            cause_in_effect.reset(token)
        return handled, last

    def _record(self) -> None:
        """Record the position if it moved since it was last recorded."""
        position = self._tracker.unrecorded_position()
        if position is not None:
            self.positions.put(position)
        self._tracker.mark_recorded(position)
