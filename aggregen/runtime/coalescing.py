"""`Coalescer`: what concurrent tasks ask for at the same time, done in one batch.

A task submits an item and waits for its outcome. Items submitted while a batch is
being made or is in flight go together into the next one: at most `concurrency`
batches in flight, each of at most `limit` items. A batch starts on the turn of the
event loop after the first item of it was submitted, so every task that was ready
to run in that turn has joined it; a task alone makes a batch of one. While tasks
take turns, one at a time, a task may instead do its operation itself, at once
(`take_turn`), and pay nothing for batches.

Cancellation: a task cancelled before its batch goes out is left out of it (the
batch's `run` is given only items whose task still waits, see `Waiting.gone`). A
task cancelled after its batch went out gets `CancelledError` and the batch goes
on for the others; when every task of a batch is cancelled, the batch itself is
cancelled and the last task to go waits until the batch has ended (its connection
closed), as a task running the operation itself would have.

Standard library only: the store that uses it decides what a batch does.
"""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer", "Outcome", "Waiting"]

I = TypeVar("I")  # noqa: E741 (the item)
R = TypeVar("R")


class Waiting(Generic[I, R]):
    """A submitted item and the future its task waits on."""

    __slots__ = ("future", "item")

    def __init__(self, item: I, future: asyncio.Future[R]) -> None:
        self.item = item
        self.future = future

    def gone(self) -> bool:
        """Whether the task stopped waiting (cancelled): its item must not go out."""
        return self.future.done()


Outcome = tuple[Waiting[I, R], R | BaseException]
"""One item's outcome in a batch: its result, or the exception its task raises."""


class Coalescer(Generic[I, R]):
    """Batches of the items tasks submit, run by `run`, at most `concurrency` at once.

    `run(batch)` gets the waiting items of a batch (in the order they were submitted)
    and returns each one's outcome; it may leave out items that are `gone()` when it
    sends the batch. What it raises is raised in every task of the batch (each its
    own copy). `interrupted()` makes the error for the tasks of a batch that ended
    without outcome (its task was cancelled from outside, as when the event loop
    shuts down). Use one coalescer per event loop.
    """

    def __init__(
        self,
        run: Callable[[list[Waiting[I, R]]], Awaitable[Sequence[Outcome[I, R]]]],
        *,
        concurrency: int,
        limit: int,
        interrupted: Callable[[], BaseException],
    ) -> None:
        self._run = run
        self._concurrency = concurrency
        self._limit = limit
        self._interrupted = interrupted
        self._queue: collections.deque[Waiting[I, R]] = collections.deque()
        self._drains: set[asyncio.Task[None]] = set()
        """The tasks running batches (referenced here: the loop keeps only weak ones)."""
        self._batches: dict[asyncio.Task[None], list[Waiting[I, R]]] = {}
        """Each drain's batch in flight."""
        self._abandoned: set[asyncio.Task[None]] = set()
        """Drains cancelled because every task of their batch was."""
        self._inline = 0
        """Turns taken by tasks doing their operation themselves (see `take_turn`)."""
        self._alone = True
        """Whether tasks seem to take turns, one at a time: the last batch ran alone with
        nothing waiting behind it, or the last two drained batches each had one item."""
        self._singles = 0
        """Drained batches of one item in a row, nothing waiting behind them."""

    def take_turn(self) -> bool:
        """Whether the caller may do its operation itself, now, on its own.

        True when nothing is in flight or waiting and tasks seem to take turns, one
        at a time (see `_alone`): the caller then does what a batch of its one item
        would do, with no task made and no turn of the loop waited for it, and calls
        `end_turn` when done (in a `finally`). Meanwhile other tasks' items wait for
        a batch. False: `submit` the item.
        """
        if self._alone and not self._inline and not self._drains and not self._queue:
            self._inline += 1
            return True
        return False

    def end_turn(self) -> None:
        """After a turn (see `take_turn`): the items that came meanwhile go to a batch."""
        self._inline -= 1
        if self._queue:
            self._alone, self._singles = False, 0
            if self._busy() < self._concurrency:
                self._start(asyncio.get_running_loop())

    async def through(self, item: I, alone: Callable[[], Awaitable[R]]) -> R:
        """`alone()` when the caller may take a turn (`take_turn`), else `submit(item)`."""
        if not self.take_turn():
            return await self.submit(item)
        try:
            return await alone()
        finally:
            self.end_turn()

    async def submit(self, item: I) -> R:
        """The item's outcome, once a batch holding it has run; raises what it raised."""
        loop = asyncio.get_running_loop()
        waiting: Waiting[I, R] = Waiting(item, loop.create_future())
        if self._queue or self._busy():  # tasks at once
            self._alone, self._singles = False, 0
        self._queue.append(waiting)
        if self._busy() < self._concurrency:
            self._start(loop)
        try:
            return await waiting.future
        except asyncio.CancelledError:
            await self._abandon(waiting)
            raise

    def _busy(self) -> int:
        """Batches in flight."""
        return len(self._drains) + self._inline

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        drain = loop.create_task(self._drain())
        self._drains.add(drain)

    async def _drain(self) -> None:
        """Run batches of the queue's items until it is empty."""
        drain = asyncio.current_task()
        assert drain is not None
        batch: list[Waiting[I, R]] = []
        try:
            while batch := self._take():
                self._singles = self._singles + 1 if len(batch) == 1 and not self._queue else 0
                self._alone = self._singles >= 2
                self._batches[drain] = batch
                try:
                    outcomes = await self._run(batch)
                except Exception as error:  # every task of the batch raises it
                    outcomes = [(waiting, error) for waiting in batch]
                del self._batches[drain]
                _settle(outcomes)
        except BaseException:
            self._batches.pop(drain, None)
            self._drains.discard(drain)
            if drain in self._abandoned:  # by `_abandon`: the tasks still waiting go on
                self._abandoned.discard(drain)
                if any(not waiting.gone() for waiting in self._queue):
                    self._start(asyncio.get_running_loop())
            else:  # from outside (the loop shutting down): nobody is left waiting
                stranded = []
                if not self._busy():
                    stranded = list(self._queue)
                    self._queue.clear()
                _settle([(waiting, self._interrupted()) for waiting in batch + stranded])
            raise
        self._drains.discard(drain)

    def _take(self) -> list[Waiting[I, R]]:
        """The next batch: up to `limit` items whose tasks still wait."""
        batch: list[Waiting[I, R]] = []
        queue = self._queue
        while queue and len(batch) < self._limit:
            waiting = queue.popleft()
            if not waiting.gone():
                batch.append(waiting)
        return batch

    async def _abandon(self, waiting: Waiting[I, R]) -> None:
        """After `waiting`'s task was cancelled: when no task of its batch waits any
        more, cancel the batch and wait until it has ended (its connection given back).

        An item not taken yet stays in the queue, `gone()`, and is never sent.
        """
        for drain, batch in list(self._batches.items()):
            if waiting in batch and all(other.gone() for other in batch):
                self._abandoned.add(drain)
                drain.cancel()
                await asyncio.wait([drain])
                return


def _settle(outcomes: Sequence[Outcome[I, R]]) -> None:
    """Give each waiting task its outcome; a shared exception as a copy per task."""
    shared: set[int] = set()
    for waiting, outcome in outcomes:
        if waiting.gone():
            continue
        if isinstance(outcome, BaseException):
            if id(outcome) in shared:
                outcome = _copy(outcome)
            shared.add(id(outcome))
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)


def _copy(error: BaseException) -> BaseException:
    """A copy of `error` with its cause, for another task to raise; `error` if it cannot be."""
    try:
        twin = copy.copy(error)
    except Exception:  # an exception class that cannot be rebuilt from its arguments
        return error
    twin.__cause__ = error.__cause__
    twin.__suppress_context__ = error.__suppress_context__
    return twin
