"""`Coalescer`, alone (no database): batches, limits, cancellation, errors.

The store's batches on MessageDB are tested in tests/test_async_batches.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aggregen.runtime.coalescing import Coalescer, Outcome, Waiting
from tests.async_support import run


class Recorder:
    """A batch runner that records its batches and, when told to, waits to be released.

    It awaits once in any case, as a round trip to a database would."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None
        self.ended: list[str] = []

    async def __call__(self, batch: list[Waiting[int, int]]) -> Sequence[Outcome[int, int]]:
        try:
            await asyncio.sleep(0)  # a round trip
            if self.gate is not None:
                await self.gate.wait()
            sent = [waiting for waiting in batch if not waiting.gone()]
            self.batches.append([waiting.item for waiting in sent])
            outcomes: list[Outcome[int, int]] = []
            for waiting in sent:
                if waiting.item < 0:
                    outcomes.append((waiting, ValueError(f"refused {waiting.item}")))
                else:
                    outcomes.append((waiting, waiting.item * 10))
            return outcomes
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise


def coalescer(runner: Recorder, concurrency: int = 1, limit: int = 64) -> Coalescer[int, int]:
    return Coalescer(
        runner,
        concurrency=concurrency,
        limit=limit,
        interrupted=lambda: RuntimeError("interrupted"),
    )


def test_items_submitted_in_one_turn_go_out_in_one_batch_each_with_its_outcome() -> None:
    runner = Recorder()

    async def main() -> list[int | BaseException]:
        batches = coalescer(runner)
        return await asyncio.gather(
            *(batches.submit(item) for item in (1, 2, -3, 4)), return_exceptions=True
        )

    outcomes = run(main)
    assert runner.batches == [[1, 2, -3, 4]]
    assert outcomes[:2] == [10, 20]
    assert outcomes[3] == 40
    assert isinstance(outcomes[2], ValueError)
    assert str(outcomes[2]) == "refused -3"


def test_a_task_alone_makes_a_batch_of_one() -> None:
    runner = Recorder()

    async def main() -> list[int]:
        batches = coalescer(runner)
        return [await batches.submit(item) for item in (1, 2, 3)]

    assert run(main) == [10, 20, 30]
    assert runner.batches == [[1], [2], [3]]


def test_items_that_wait_for_a_batch_in_flight_go_out_together_within_the_limit() -> None:
    runner = Recorder()

    async def main() -> list[int]:
        batches = coalescer(runner, limit=3)
        runner.gate = asyncio.Event()
        first = asyncio.ensure_future(batches.submit(0))
        await asyncio.sleep(0.01)  # the first batch is in flight, held at the gate
        rest = [asyncio.ensure_future(batches.submit(item)) for item in range(1, 8)]
        await asyncio.sleep(0.01)
        runner.gate.set()
        return [await first, *list(await asyncio.gather(*rest))]

    assert run(main) == [n * 10 for n in range(8)]
    assert runner.batches == [[0], [1, 2, 3], [4, 5, 6], [7]]


def test_batches_in_flight_at_once_are_bounded_by_the_concurrency() -> None:
    runner = Recorder()
    in_flight: list[int] = []
    most = 0

    async def counted(batch: list[Waiting[int, int]]) -> Sequence[Outcome[int, int]]:
        nonlocal most
        in_flight.append(1)
        most = max(most, len(in_flight))
        await asyncio.sleep(0.001)
        in_flight.pop()
        return await runner(batch)

    async def main() -> None:
        batches: Coalescer[int, int] = Coalescer(
            counted, concurrency=2, limit=2, interrupted=lambda: RuntimeError("interrupted")
        )
        assert await asyncio.gather(*(batches.submit(n) for n in range(10))) == [
            n * 10 for n in range(10)
        ]

    run(main)
    assert most == 2
    assert sorted(item for batch in runner.batches for item in batch) == list(range(10))


def test_a_task_cancelled_before_its_batch_goes_out_is_left_out() -> None:
    runner = Recorder()

    async def main() -> None:
        batches = coalescer(runner)
        runner.gate = asyncio.Event()
        first = asyncio.ensure_future(batches.submit(0))
        await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(batches.submit(item)) for item in (1, 2, 3)]
        await asyncio.sleep(0.01)
        waiting[1].cancel()
        runner.gate.set()
        assert await first == 0
        assert await waiting[0] == 10
        assert await waiting[2] == 30
        with pytest.raises(asyncio.CancelledError):
            await waiting[1]

    run(main)
    assert runner.batches == [[0], [1, 3]]


def test_a_batch_whose_tasks_are_all_cancelled_is_cancelled_and_the_next_one_runs() -> None:
    runner = Recorder()

    async def main() -> None:
        batches = coalescer(runner)
        runner.gate = asyncio.Event()
        sent = [asyncio.ensure_future(batches.submit(item)) for item in (1, 2)]
        await asyncio.sleep(0.01)  # in flight, held at the gate
        later = asyncio.ensure_future(batches.submit(3))
        await asyncio.sleep(0.01)
        sent[0].cancel()
        await asyncio.sleep(0.01)
        assert runner.ended == [], "cancelled while another task of the batch still waits"
        sent[1].cancel()
        await asyncio.gather(*sent, return_exceptions=True)
        assert runner.ended == ["cancelled"], "the last task waits until the batch has ended"
        runner.gate.set()
        assert await later == 30

    run(main)
    assert runner.batches == [[3]]


def test_an_error_of_the_whole_batch_is_raised_in_every_task_as_its_own_copy() -> None:
    async def failing(batch: list[Waiting[int, int]]) -> Sequence[Outcome[int, int]]:
        try:
            raise KeyError("the cause")
        except KeyError as cause:
            raise RuntimeError("the batch failed") from cause

    async def main() -> list[BaseException]:
        batches: Coalescer[int, int] = Coalescer(
            failing, concurrency=1, limit=64, interrupted=lambda: RuntimeError("interrupted")
        )
        found = await asyncio.gather(*(batches.submit(n) for n in range(3)), return_exceptions=True)
        return [error for error in found if isinstance(error, BaseException)]

    errors = run(main)
    assert len(errors) == 3
    assert len({id(error) for error in errors}) == 3
    for error in errors:
        assert isinstance(error, RuntimeError)
        assert str(error) == "the batch failed"
        assert isinstance(error.__cause__, KeyError)


def test_a_batch_cancelled_from_outside_tells_its_tasks_and_those_waiting() -> None:
    runner = Recorder()

    async def main() -> list[BaseException | int]:
        batches = coalescer(runner)
        runner.gate = asyncio.Event()
        tasks = [asyncio.ensure_future(batches.submit(item)) for item in (1, 2)]
        await asyncio.sleep(0.01)
        tasks.append(asyncio.ensure_future(batches.submit(3)))
        await asyncio.sleep(0.01)
        (drain,) = batches._drains
        drain.cancel()  # as the event loop does when it shuts down
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = run(main)
    assert [str(outcome) for outcome in outcomes] == ["interrupted"] * 3


def test_tasks_taking_turns_go_alone_and_items_that_come_meanwhile_wait_for_a_batch() -> None:
    """A new coalescer, or one whose last two batches each had one item with nobody
    waiting, lets a task do its operation itself (`take_turn`) while nothing is in
    flight; an item submitted during that turn waits and goes out after it, and
    from then on tasks wait for batches until two batches of one in a row."""
    runner = Recorder()

    async def main() -> list[bool]:
        batches = coalescer(runner)
        turns = [batches.take_turn()]  # a new coalescer: go alone
        assert not batches.take_turn(), "one turn at a time"
        waiting = asyncio.ensure_future(batches.submit(1))
        await asyncio.sleep(0.01)
        assert runner.batches == [], "the item waits for the turn to end"
        batches.end_turn()
        assert await waiting == 10
        turns.append(batches.take_turn())  # tasks came at once: batches now
        assert await batches.submit(2) == 20  # a second batch of one in a row
        turns.append(batches.take_turn())
        batches.end_turn()
        return turns

    assert run(main) == [True, False, True]
    assert runner.batches == [[1], [2]]
