"""`AsyncReadAhead` and the async consumer reading ahead: the sync rules, in a task.

The next batch is read in a task while one is handled; the task has sent its read
before the handler runs. It is used only from the same position and only when full
(a short one is read again, with what the handler wrote meanwhile), a failed one is
read again so that its error comes from the repeat, and no read task outlives a
consumer that stopped, was cancelled or failed. A property checks that the async
consumer reading ahead delivers and records exactly what the sync `Consumer` does.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.runtime import (
    AsyncConsumer,
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncPositionStore,
    Consumer,
    ConsumerError,
    ConsumerGroup,
    EventStore,
    InMemoryEventStore,
    NewMessage,
    PositionStore,
    RecordedMessage,
    StreamWrite,
)
from aggregen.runtime.read_ahead import AsyncReadAhead
from tests.async_support import run

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
Scenario = Callable[[AsyncEventStore], Awaitable[None]]


class Category:
    """A category of `size` messages at global positions 1..size, read in batches of 2
    with a turn of the loop in each read; records each read and the task it ran in."""

    def __init__(self, size: int, failing_from: int | None = None, failures: int = -1) -> None:
        self.size = size
        self.failing_from = failing_from
        self.failures = failures
        """How many reads fail (from `failing_from` on); -1: every one."""
        self.reads: list[int] = []
        self.tasks: list[asyncio.Task[Any] | None] = []
        self.hold = asyncio.Event()
        self.hold.set()

    async def read(self, position: int) -> list[RecordedMessage]:
        self.reads.append(position)
        self.tasks.append(asyncio.current_task())
        await asyncio.sleep(0)
        await self.hold.wait()
        if self.failing_from is not None and position >= self.failing_from and self.failures:
            self.failures -= 1
            raise RuntimeError(f"read from {position} failed")
        last = min(self.size, position + 1)
        return [
            RecordedMessage(f"id{n}", "c-1", "T", n - 1, n, {}, None, EPOCH)
            for n in range(position, last + 1)
        ]


def positions(batch: list[RecordedMessage]) -> list[int]:
    return [m.global_position for m in batch]


def read_tasks_ended(tasks: list[asyncio.Task[Any] | None]) -> bool:
    """Whether every read task but the caller's own has ended."""
    mine = asyncio.current_task()
    return all(task is None or task is mine or task.done() for task in tasks)


def test_a_full_batch_has_the_next_read_sent_when_it_is_handed_out() -> None:
    """The read ahead runs before the batch goes to the handler (a handler that never
    waits would otherwise keep the loop until its batch ends)."""

    async def main() -> None:
        category = Category(5)
        reader = AsyncReadAhead(category.read, 2)
        try:
            assert positions(await reader.batch(1)) == [1, 2]
            assert category.reads == [1, 3], "the next read began before the batch was handed out"
            assert category.tasks[1] is not asyncio.current_task()
            assert positions(await reader.batch(3)) == [3, 4]
            # the last batch is short: read again when asked for, never taken as read ahead
            assert positions(await reader.batch(5)) == [5]
            assert category.reads == [1, 3, 5, 5]
        finally:
            await reader.close()
        assert read_tasks_ended(category.tasks)

    run(main)


def test_a_failed_read_ahead_is_read_again_and_the_repeat_raises() -> None:
    async def main() -> None:
        category = Category(9, failing_from=3)
        reader = AsyncReadAhead(category.read, 2)
        try:
            assert positions(await reader.batch(1)) == [1, 2]
            with pytest.raises(RuntimeError, match="read from 3 failed"):
                await reader.batch(3)
            assert category.reads == [1, 3, 3]
            assert category.tasks[2] is asyncio.current_task(), "raised by the repeat"
        finally:
            await reader.close()

    run(main)  # fails if the read ahead's error was logged as never retrieved


def test_a_read_ahead_that_failed_once_is_read_again_successfully() -> None:
    async def main() -> None:
        category = Category(9, failing_from=3, failures=1)
        reader = AsyncReadAhead(category.read, 2)
        try:
            assert positions(await reader.batch(1)) == [1, 2]
            assert positions(await reader.batch(3)) == [3, 4]
            assert category.reads == [1, 3, 3, 5]
        finally:
            await reader.close()

    run(main)


def test_a_read_ahead_from_another_position_is_cancelled_and_not_used() -> None:
    async def main() -> None:
        category = Category(9)
        reader = AsyncReadAhead(category.read, 2)
        try:
            await reader.batch(1)  # the read from 3 is under way
            assert positions(await reader.batch(2)) == [2, 3]
            ahead = category.tasks[1]
            assert ahead is not None
            assert ahead.cancelled()
            assert category.reads == [1, 3, 2, 4]
        finally:
            await reader.close()
        assert read_tasks_ended(category.tasks)

    run(main)


def test_close_cancels_the_read_in_flight_and_waits_for_its_task() -> None:
    async def main() -> None:
        category = Category(9)
        reader = AsyncReadAhead(category.read, 2)
        await reader.batch(1)
        category.hold.clear()  # the read ahead never finishes by itself
        await reader.close()
        ahead = category.tasks[1]
        assert ahead is not None
        assert ahead.cancelled()

    run(main)


def test_a_reader_not_enabled_reads_only_when_asked() -> None:
    async def main() -> None:
        category = Category(5)
        reader = AsyncReadAhead(category.read, 2, enabled=False)
        assert positions(await reader.batch(1)) == [1, 2]
        assert positions(await reader.batch(3)) == [3, 4]
        assert category.reads == [1, 3]
        assert set(category.tasks) == {asyncio.current_task()}
        await reader.close()

    run(main)


# The consumer, on the async stores.


@pytest.fixture(
    params=[
        "async-memory",
        "async-messagedb",
        pytest.param("async-jetstream", marks=pytest.mark.jetstream),
    ]
)
def on_store(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario with a fresh async store on a fresh loop that must report nothing."""

    def run_scenario(scenario: Scenario) -> None:
        async def main() -> None:
            store: Any
            if request.param == "async-memory":
                store = AsyncInMemoryEventStore()
            elif request.param == "async-messagedb":
                store = AsyncMessageDBEventStore(
                    request.getfixturevalue("messagedb_uri"), max_size=4
                )
            else:
                from aggregen.runtime.jetstream import AsyncJetStreamEventStore

                prefix = f"{request.getfixturevalue('nats_uri')}/test-{uuid.uuid4().hex[:12]}"
                store = AsyncJetStreamEventStore(prefix)
            try:
                await scenario(store)
            finally:
                if request.param == "async-jetstream":
                    await store._api(f"$JS.API.STREAM.DELETE.{store.prefix}", {})
                await store.close()

        run(main)

    return run_scenario


def new_category() -> str:
    return "ara" + uuid.uuid4().hex[:12]


async def fill(store: AsyncEventStore, stream: str, count: int, start: int = 0) -> None:
    """`count` messages `Counted {n}` in `stream`, `n` from `start` on."""
    messages = [
        NewMessage(str(uuid.uuid4()), "Counted", {"n": start + n}, None) for n in range(count)
    ]
    await store.append([StreamWrite(stream, None, messages)])


def recording_reads(store: AsyncEventStore, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The tasks that read the store's categories, from now on."""
    tasks: list[Any] = []
    read = store.read_category

    async def recorded(*args: Any, **kwargs: Any) -> list[RecordedMessage]:
        tasks.append(asyncio.current_task())
        return await read(*args, **kwargs)

    monkeypatch.setattr(store, "read_category", recorded)
    return tasks


class Counted:
    """Keeps the `n` of each message it handles, and the message; `react` runs first."""

    def __init__(self) -> None:
        self.handled: list[int] = []
        self.messages: list[RecordedMessage] = []

    async def react(self, message: RecordedMessage) -> None:
        """What the handler does besides keeping the message."""

    async def handle(self, message: RecordedMessage) -> None:
        await self.react(message)
        self.handled.append(message.data["n"])
        self.messages.append(message)


@pytest.mark.parametrize("read_ahead", [True, False])
def test_what_a_handler_writes_into_its_category_is_handled_in_the_same_catch_up(
    on_store: Callable[[Scenario], None], read_ahead: bool
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        # Batches of 2 over 3 messages: the batch after the first is read ahead while
        # the first is handled, before the handler writes; catch_up handles the
        # message written all the same, as it does without reading ahead.
        category = new_category()
        await fill(store, f"{category}-a", 3)

        class Writing(Counted):
            async def react(self, message: RecordedMessage) -> None:
                if message.data["n"] == 0:
                    await fill(store, f"{category}-b", 1, start=100)

        handler = Writing()
        consumer = AsyncConsumer(
            store, category, handler, name="r", batch_size=2, read_ahead=read_ahead
        )
        assert await consumer.catch_up() == 4
        assert handler.handled == [0, 1, 2, 100]

    on_store(scenario)


def test_a_consumer_stopped_mid_batch_records_that_message_and_leaves_no_read_running(
    on_store: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, f"{category}-a", 9)
        consumer: AsyncConsumer

        class Stopping(Counted):
            async def react(self, message: RecordedMessage) -> None:
                if message.data["n"] == 4:  # the middle of the second batch of three
                    consumer.stop()

        handler = Stopping()
        consumer = AsyncConsumer(store, category, handler, name="s", batch_size=3)
        reads = recording_reads(store, monkeypatch)

        assert await consumer.catch_up() == 5
        assert read_tasks_ended(reads)
        assert len(set(reads)) == 3, "the batches after the first two were read ahead"
        stopped_at = handler.messages[-1].global_position
        assert consumer.position == stopped_at
        assert await AsyncPositionStore(store, category, "s").get() == stopped_at

        assert await consumer.catch_up() == 4
        assert handler.handled == list(range(9)), "nothing skipped, nothing repeated"

    on_store(scenario)


def test_a_consumer_cancelled_mid_batch_records_the_message_before_and_leaves_no_read_running(
    on_store: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, f"{category}-a", 9)
        blocked = asyncio.Event()

        class Blocking(Counted):
            async def react(self, message: RecordedMessage) -> None:
                if message.data["n"] == 4:
                    blocked.set()
                    await asyncio.Event().wait()  # until cancelled

        handler = Blocking()
        consumer = AsyncConsumer(store, category, handler, name="c", batch_size=3)
        reads = recording_reads(store, monkeypatch)
        task = asyncio.create_task(consumer.catch_up())
        await blocked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert read_tasks_ended(reads)
        assert handler.handled == [0, 1, 2, 3]
        recorded = await AsyncPositionStore(store, category, "c").get()
        assert recorded == handler.messages[-1].global_position

    on_store(scenario)


def test_a_failing_handler_leaves_no_read_running(
    on_store: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, f"{category}-a", 9)

        class Failing(Counted):
            async def react(self, message: RecordedMessage) -> None:
                if message.data["n"] == 4:
                    raise RuntimeError("the mailer is down")

        handler = Failing()
        consumer = AsyncConsumer(store, category, handler, name="f", batch_size=3)
        reads = recording_reads(store, monkeypatch)
        with pytest.raises(ConsumerError, match="the mailer is down"):
            await consumer.catch_up()

        assert read_tasks_ended(reads)
        recorded = await AsyncPositionStore(store, category, "f").get()
        assert recorded == handler.messages[-1].global_position

    on_store(scenario)


@pytest.mark.parametrize("failures", [1, -1])
def test_a_failing_read_ahead_is_read_again_and_only_a_failing_repeat_raises(
    on_store: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    """Reads after the second message fail `failures` times (-1: always). The read ahead
    fails; the repeat, in the consumer's task, raises or reads what was missed."""

    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, f"{category}-a", 4)
        second = (await store.read_category(category, batch_size=2))[1].global_position
        failing = [failures]
        read = store.read_category
        tasks: list[Any] = []

        async def flaky(category: str, position: int = 1, **options: Any) -> Any:
            tasks.append(asyncio.current_task())
            if position > second and failing[0]:
                failing[0] -= 1
                raise RuntimeError(f"read from {position} failed")
            return await read(category, position, **options)

        monkeypatch.setattr(store, "read_category", flaky)
        handler = Counted()
        consumer = AsyncConsumer(store, category, handler, name="e", batch_size=2)
        if failures == -1:
            with pytest.raises(RuntimeError, match=f"read from {second + 1} failed"):
                await consumer.catch_up()
            assert handler.handled == [0, 1]
            assert tasks[2] is asyncio.current_task(), "raised by the consumer's own read"
        else:
            assert await consumer.catch_up() == 4
            assert handler.handled == [0, 1, 2, 3]
        assert tasks[1] is not asyncio.current_task(), "the failed read was the read ahead"
        assert read_tasks_ended(tasks)

    on_store(scenario)


# Sync against async: the same deliveries and the same recorded positions.


@dataclass(frozen=True)
class Case:
    streams: list[int]
    """The stream (0 to 3) of each message written before the consumer starts, in order."""
    batch_size: int
    interval: int
    group: ConsumerGroup | None
    start: int | None
    """The index of the message whose position is recorded before the start, if any."""
    writes: dict[int, int]
    """The handler writes message `100 + n` to stream `writes[n]` when it handles `n`."""
    stops: frozenset[int]
    """The handler stops the consumer when it handles one of these."""


@st.composite
def cases(draw: st.DrawFn) -> Case:
    streams = draw(st.lists(st.integers(0, 3), max_size=12))
    size = draw(st.integers(1, 3))
    group = draw(st.none() | st.builds(ConsumerGroup, st.integers(0, size - 1), st.just(size)))
    written = st.integers(0, max(len(streams) - 1, 0))
    return Case(
        streams=streams,
        batch_size=draw(st.integers(1, 4)),
        interval=draw(st.integers(1, 3)),
        group=group,
        start=draw(st.none() | written) if streams else None,
        writes=draw(st.dictionaries(written, st.integers(0, 4), max_size=4)),
        stops=draw(st.frozensets(written | st.integers(100, 100 + len(streams)), max_size=3)),
    )


Outcome = tuple[list[int], list[int], list[int]]
"""The `n` of each message delivered, each catch_up's count, and the `n` of the message
at each recorded position."""


def numbered(messages: list[RecordedMessage], positions: list[int]) -> list[int]:
    """The `n` of the message at each of `positions`."""
    n_at = {m.global_position: m.data["n"] for m in messages}
    return [n_at[p] for p in positions]


def new_message(n: int) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), "Counted", {"n": n}, None)


def sync_outcome(store: EventStore, category: str, case: Case) -> Outcome:
    for n, stream in enumerate(case.streams):
        store.append([StreamWrite(f"{category}-{stream}", None, [new_message(n)])])
    before = store.read_category(category, batch_size=100)
    if case.start is not None:
        PositionStore(store, category, "p").put(before[case.start].global_position)
    delivered: list[int] = []
    consumer: Consumer

    class Handler:
        def handle(self, message: RecordedMessage) -> None:
            n = message.data["n"]
            delivered.append(n)
            if n in case.writes:
                stream = f"{category}-{case.writes[n]}"
                store.append([StreamWrite(stream, None, [new_message(100 + n)])])
            if n in case.stops:
                consumer.stop()

    consumer = Consumer(
        store,
        category,
        Handler(),
        name="p",
        batch_size=case.batch_size,
        position_update_interval=case.interval,
        consumer_group=case.group,
    )
    counts = [consumer.catch_up(handle_signals=False) for _ in range(len(case.stops) + 1)]
    recorded = [
        m.data["position"] for m in store.read(PositionStore(store, category, "p").stream_name)
    ]
    return delivered, counts, numbered(store.read_category(category, batch_size=100), recorded)


async def async_outcome(store: AsyncEventStore, category: str, case: Case) -> Outcome:
    for n, stream in enumerate(case.streams):
        await store.append([StreamWrite(f"{category}-{stream}", None, [new_message(n)])])
    before = await store.read_category(category, batch_size=100)
    if case.start is not None:
        await AsyncPositionStore(store, category, "p").put(before[case.start].global_position)
    delivered: list[int] = []
    consumer: AsyncConsumer

    class Handler:
        async def handle(self, message: RecordedMessage) -> None:
            n = message.data["n"]
            delivered.append(n)
            if n in case.writes:
                written = f"{category}-{case.writes[n]}"
                await store.append([StreamWrite(written, None, [new_message(100 + n)])])
            if n in case.stops:
                consumer.stop()

    consumer = AsyncConsumer(
        store,
        category,
        Handler(),
        name="p",
        batch_size=case.batch_size,
        position_update_interval=case.interval,
        consumer_group=case.group,
        read_ahead=True,
    )
    counts = [await consumer.catch_up() for _ in range(len(case.stops) + 1)]
    position_stream = AsyncPositionStore(store, category, "p").stream_name
    recorded = [m.data["position"] async for m in store.read(position_stream)]
    return (
        delivered,
        counts,
        numbered(await store.read_category(category, batch_size=100), recorded),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_async_consumer_reading_ahead_delivers_and_records_as_the_sync_one_in_memory(
    case: Case,
) -> None:
    async def main() -> Outcome:
        return await async_outcome(AsyncInMemoryEventStore(), "c", case)

    assert run(main) == sync_outcome(InMemoryEventStore(), "c", case)


@pytest.mark.messagedb
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_the_async_consumer_reading_ahead_delivers_and_records_as_the_sync_one_on_messagedb(
    messagedb_uri: str, messagedb_store: EventStore, case: Case
) -> None:
    async def main() -> Outcome:
        store = AsyncMessageDBEventStore(messagedb_uri, max_size=4)
        try:
            return await async_outcome(store, new_category(), case)
        finally:
            await store.close()

    assert run(main) == sync_outcome(messagedb_store, new_category(), case)


def test_a_failed_read_ahead_never_needed_is_not_reported_as_unretrieved(
    on_store: Callable[[Scenario], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer stops before it needs the batch whose read ahead failed: the
    error is dropped with the read, not logged by the loop when the task goes."""

    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, f"{category}-a", 4)
        read = store.read_category
        consumer: AsyncConsumer

        async def failing_ahead(category: str, position: int = 1, **options: Any) -> Any:
            if position > 1:
                raise RuntimeError(f"read from {position} failed")
            return await read(category, position, **options)

        class Stopping(Counted):
            async def react(self, message: RecordedMessage) -> None:
                await asyncio.sleep(0.01)  # the read ahead fails meanwhile
                consumer.stop()

        monkeypatch.setattr(store, "read_category", failing_ahead)
        consumer = AsyncConsumer(store, category, Stopping(), name="u", batch_size=2)
        assert await consumer.catch_up() == 1
        gc.collect()  # the failed task goes now, while the loop runs

    on_store(scenario)
