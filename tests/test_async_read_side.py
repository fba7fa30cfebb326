"""What only the async read side has: cancellation, many members in one loop, signals, context.

Each test runs its coroutine on a fresh event loop against both async stores. A
consumer cancelled at random points records where it got, so that each cancellation
delivers at most one message again; a projector cancelled at random points leaves a
read model equal to a clean rebuild; events raised by an async handler, in its own
task or in tasks it creates, carry the handled message's causation.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from banking import AsyncCustomerRepository, Customer
from identity import AsyncUserHandler, AsyncUserRepository, Registered, User

from aggregen.runtime import (
    AsyncConsumer,
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncPositionStore,
    AsyncPostgresProjectionTarget,
    AsyncProjectionTarget,
    AsyncProjector,
    AsyncSQLiteProjectionTarget,
    ConsumerError,
    ConsumerGroup,
    NewMessage,
    RecordedMessage,
    StreamDataError,
    StreamWrite,
    correlated,
)
from tests.projection_support import AsyncTally, Tally, app_database_uri

Scenario = Callable[[AsyncEventStore], Awaitable[None]]


@pytest.fixture(params=["async-memory", "async-messagedb"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario on a fresh event loop with each async store."""

    def run_scenario(scenario: Scenario) -> None:
        async def main() -> None:
            if request.param == "async-memory":
                await scenario(AsyncInMemoryEventStore())
                return
            store = AsyncMessageDBEventStore(request.getfixturevalue("messagedb_uri"), max_size=4)
            try:
                await scenario(store)
            finally:
                await store.close()

        asyncio.run(main())

    return run_scenario


def new_category() -> str:
    return "acons" + uuid.uuid4().hex[:12]


async def fill(store: AsyncEventStore, category: str, streams: int, per_stream: int) -> None:
    """`streams * per_stream` messages `Ticked {n}`, stream after stream in each round."""
    for round_ in range(per_stream):
        await store.append(
            [
                StreamWrite(
                    f"{category}-{s}",
                    None,
                    [NewMessage(str(uuid.uuid4()), "Ticked", {"n": round_ * streams + s}, None)],
                )
                for s in range(streams)
            ]
        )


class Seen:
    """Keeps the `n` of every message it starts; yields to the loop half-way, so that a
    cancellation can land in the middle of a message."""

    def __init__(self, block_at: int | None = None, store: AsyncEventStore | None = None) -> None:
        self.started: list[int] = []
        self.messages: list[RecordedMessage] = []
        self.block_at = block_at
        self.blocked = asyncio.Event()
        self.store = store
        """When given, each message reads its stream's last message half-way (I/O)."""

    async def handle(self, message: RecordedMessage) -> None:
        self.started.append(message.data["n"])
        if message.data["n"] == self.block_at:
            self.blocked.set()
            await asyncio.Event().wait()  # until cancelled
        await asyncio.sleep(0)
        if self.store is not None:
            await self.store.read_last(message.stream_name)
        self.messages.append(message)


async def cancel_soon(task: asyncio.Task[None], chance: random.Random) -> None:
    """Cancel `task` after a random number of loop turns, or a random few milliseconds
    (a new MessageDB connection takes several), and see it re-raise `CancelledError`."""
    if chance.random() < 0.5:
        for _ in range(chance.randrange(60)):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(chance.uniform(0, 0.06))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("method", ["run", "catch_up"])
def test_a_cancelled_consumer_records_the_last_message_handled_and_reraises(
    run: Callable[[Scenario], None], method: str
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=2, per_stream=5)
        seen = Seen(block_at=6)
        consumer = AsyncConsumer(store, category, seen, name="c", position_update_interval=100)
        task = asyncio.create_task(getattr(consumer, method)())
        await seen.blocked.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert seen.started == list(range(7))
        last_done = seen.messages[-1]
        assert last_done.data["n"] == 5
        assert await AsyncPositionStore(store, category, "c").get() == last_done.global_position

        again = Seen()
        assert await AsyncConsumer(store, category, again, name="c").catch_up() == 4
        assert again.started == [6, 7, 8, 9], "the cancelled message is delivered again"

    run(scenario)


def test_a_consumer_cancelled_at_random_points_finishes_each_message_once(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=5, per_stream=40)
        seen = Seen(store=store)
        chance = random.Random(14)
        for _ in range(30):
            consumer = AsyncConsumer(
                store, category, seen, name="c", position_update_interval=7, batch_size=9
            )
            await cancel_soon(asyncio.create_task(consumer.run()), chance)
        await AsyncConsumer(store, category, seen, name="c").catch_up()

        # Only a message cancelled half-way is delivered again, a tighter bound than
        # the position interval: the position of the last one finished is recorded.
        finished = Counter(message.data["n"] for message in seen.messages)
        assert finished == Counter(range(200)), "every message finished, none twice"
        interrupted = len(seen.started) - 200
        assert interrupted > 0, "some cancellations landed in the middle of a message"

    run(scenario)


async def projection_target(store: AsyncEventStore, request: pytest.FixtureRequest) -> Any:
    """The async target for a store: SQLite beside memory, PostgreSQL beside MessageDB."""
    if isinstance(store, AsyncInMemoryEventStore):
        return AsyncSQLiteProjectionTarget()
    return AsyncPostgresProjectionTarget(app_database_uri(request.getfixturevalue("messagedb_uri")))


async def read_model(target: AsyncProjectionTarget, tally: Tally) -> tuple[list[Any], list[Any]]:
    async with target.session() as session:
        seen = await session.execute(
            f"SELECT stream_name, position FROM {tally.seen} ORDER BY 1, 2"
        )
        totals = await session.execute(f"SELECT stream_name, count FROM {tally.totals} ORDER BY 1")
        return [tuple(r) for r in await seen.fetchall()], [
            tuple(r) for r in await totals.fetchall()
        ]


async def create_tables(target: AsyncProjectionTarget, tally: Tally) -> None:
    async with target.session() as session:
        for statement in tally.table_statements():
            await session.execute(statement)


class SlowTally(AsyncTally):
    """An `AsyncTally` that yields to the loop between its statements."""

    async def handle(self, message: RecordedMessage, session: Any) -> None:
        for query, params in self.tally.statements(message):
            await session.execute(query, params)
            await asyncio.sleep(0)


def test_a_projector_cancelled_at_random_points_equals_a_clean_rebuild(
    run: Callable[[Scenario], None], request: pytest.FixtureRequest
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=4, per_stream=15)
        target = await projection_target(store, request)
        cancelled, clean = Tally(), Tally()
        await create_tables(target, cancelled)
        await create_tables(target, clean)
        chance = random.Random(41)
        try:
            for _ in range(25):
                projector = AsyncProjector(
                    store,
                    category,
                    SlowTally(cancelled),
                    target,
                    name=cancelled.suffix,
                    batch_size=6,
                )
                task = asyncio.create_task(projector.run())
                await cancel_soon(task, chance)
            resumed = AsyncProjector(
                store, category, AsyncTally(cancelled), target, name=cancelled.suffix
            )
            await resumed.catch_up()
            rebuilt = AsyncProjector(store, category, AsyncTally(clean), target, name=clean.suffix)
            assert await rebuilt.catch_up() == 60

            model = await read_model(target, cancelled)
            assert model == await read_model(target, clean)
            assert len(model[0]) == 60
            assert all(count == 15 for _, count in model[1])
            assert await resumed.position() == await rebuilt.position()
        finally:
            await target.close()

    run(scenario)


def test_a_failing_async_projection_rolls_back_and_names_the_message(
    run: Callable[[Scenario], None], request: pytest.FixtureRequest
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=1, per_stream=8)
        target = await projection_target(store, request)
        tally = Tally(fail_at=5)
        await create_tables(target, tally)
        try:
            projector = AsyncProjector(
                store, category, AsyncTally(tally), target, name=tally.suffix, batch_size=3
            )
            with pytest.raises(ConsumerError) as caught:
                await projector.catch_up()
            assert (caught.value.position, caught.value.handler) == (5, "AsyncTally")
            seen, _ = await read_model(target, tally)
            assert [position for _, position in seen] == [0, 1, 2]
        finally:
            await target.close()

    run(scenario)


def test_four_group_members_in_one_loop_handle_each_stream_once_in_order(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=16, per_stream=5)
        members = [Seen() for _ in range(4)]
        consumers = [
            AsyncConsumer(
                store, category, seen, name="g", consumer_group=ConsumerGroup(m, 4), batch_size=7
            )
            for m, seen in enumerate(members)
        ]
        counts = await asyncio.gather(*(consumer.catch_up() for consumer in consumers))

        assert sum(counts) == 80
        owners: dict[str, set[int]] = {}
        for member, seen in enumerate(members):
            per_stream: dict[str, list[int]] = {}
            for message in seen.messages:
                owners.setdefault(message.stream_name, set()).add(member)
                per_stream.setdefault(message.stream_name, []).append(message.position)
            assert all(positions == list(range(5)) for positions in per_stream.values())
        assert len(owners) == 16, "no stream missed"
        assert all(len(found) == 1 for found in owners.values()), "each stream by one member"

    run(scenario)


class Enrol(AsyncUserHandler):
    """A reaction on the generated handler: enrols a customer, through the generated
    async repository, for each user registered with `email`, and one more in a task."""

    def __init__(self, store: AsyncEventStore, email: str) -> None:
        self.customers = AsyncCustomerRepository(store)
        self.email = email
        self.enrolled: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def enrol(self) -> None:
        await asyncio.sleep(0)  # the consumer has moved on by now
        customer = Customer.enroll(number=uuid.uuid4().int % 10**9, name=self.email)
        await self.customers.add(customer)
        self.enrolled.append(customer.id)

    async def on_registered(self, event: Registered) -> None:
        if event.email != self.email:
            return
        await self.enrol()
        self.tasks.append(asyncio.create_task(self.enrol()))


def test_events_raised_by_an_async_handler_and_its_tasks_carry_the_cause(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        email = f"{uuid.uuid4().hex}@example.org"
        with correlated("request-7", correlation_stream_name="web-3"):
            user = User.register(email=email)
        await AsyncUserRepository(store).add(user)
        registered = await store.read_last(User.stream_name(user.id))
        assert registered is not None
        name = f"enrol-{uuid.uuid4().hex[:8]}"
        await AsyncPositionStore(store, User.category(), name).put(registered.global_position - 1)
        reaction = Enrol(store, email)

        await AsyncConsumer(store, User.category(), reaction, name=name).catch_up()
        await asyncio.gather(*reaction.tasks)

        assert len(reaction.enrolled) == 2
        for customer_id in reaction.enrolled:
            (event,) = await AsyncCustomerRepository(store).history(customer_id)
            metadata = event.metadata
            assert metadata is not None
            assert (
                metadata.causation_id,
                metadata.causation_stream_name,
                metadata.causation_position,
                metadata.causation_global_position,
                metadata.correlation_id,
                metadata.correlation_stream_name,
            ) == (
                registered.id,
                registered.stream_name,
                0,
                registered.global_position,
                "request-7",
                "web-3",
            )

    run(scenario)


def test_sigterm_stops_every_consumer_of_the_loop_after_its_message(
    run: Callable[[Scenario], None],
) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=2, per_stream=10)

        class SignalAt(Seen):
            async def handle(self, message: RecordedMessage) -> None:
                if message.data["n"] == 4:
                    os.kill(os.getpid(), signal.SIGTERM)
                    await asyncio.sleep(0.05)  # the signal arrives while this message runs
                await super().handle(message)

        signalling, other = SignalAt(), Seen()
        first = AsyncConsumer(store, category, signalling, name="s", poll_interval=0.01)
        second = AsyncConsumer(store, category, other, name="t", poll_interval=0.01)
        second_task = asyncio.create_task(second.run(handle_signals=True))
        await first.run(handle_signals=True)  # returns: no exception, no process exit
        await asyncio.wait_for(second_task, 10)

        assert signalling.started == [0, 1, 2, 3, 4], "the current message finished, no more"
        assert [m.data["n"] for m in signalling.messages] == [0, 1, 2, 3, 4]
        positions = AsyncPositionStore(store, category, "s")
        assert await positions.get() == signalling.messages[-1].global_position
        assert await AsyncPositionStore(store, category, "t").get() == second.position

    run(scenario)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_stop_wakes_an_idle_consumer_and_it_records_its_position(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=1, per_stream=3)
        seen = Seen()
        consumer = AsyncConsumer(store, category, seen, name="idle", poll_interval=3600)
        task = asyncio.create_task(consumer.run())
        while len(seen.messages) < 3:
            await asyncio.sleep(0.001)
        consumer.stop()
        await asyncio.wait_for(task, 10)  # an hour's poll interval: stop() woke it
        assert await consumer.positions.get() == seen.messages[-1].global_position

    run(scenario)


def test_the_async_position_store_reads_and_writes_the_sync_ones_stream(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        positions = AsyncPositionStore(store, category, "p+1of2")
        assert positions.stream_name == f"{category}:position-p+1of2"
        assert await positions.get() is None
        await positions.put(41)
        await positions.put(42)
        last = await store.read_last(positions.stream_name)
        assert last is not None
        assert (last.type, last.data) == ("Updated", {"position": 42})
        assert await positions.get() == 42
        with pytest.raises(ValueError, match="at least 0"):
            await positions.put(-1)
        await store.append(
            [
                StreamWrite(
                    positions.stream_name,
                    None,
                    [NewMessage(str(uuid.uuid4()), "Updated", {"position": "7"}, None)],
                )
            ]
        )
        with pytest.raises(StreamDataError, match="whole-number 'position'"):
            await positions.get()

    run(scenario)


def test_an_async_handler_failure_records_the_message_before_and_names_it(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore) -> None:
        category = new_category()
        await fill(store, category, streams=1, per_stream=6)

        class Refuses(Seen):
            async def handle(self, message: RecordedMessage) -> None:
                if message.data["n"] == 4:
                    raise RuntimeError("the read model is down")
                await super().handle(message)

        seen = Refuses()
        with pytest.raises(ConsumerError) as caught:
            await AsyncConsumer(store, category, seen, name="f").catch_up()
        assert caught.value.position == 4
        assert caught.value.handler.endswith(".Refuses")
        assert "the read model is down" in str(caught.value)
        positions = AsyncPositionStore(store, category, "f")
        assert await positions.get() == seen.messages[-1].global_position

    run(scenario)


def test_a_consumer_runs_again_in_another_event_loop() -> None:
    store = AsyncInMemoryEventStore()
    category = new_category()
    seen = Seen()
    consumer = AsyncConsumer(store, category, seen, name="twice", poll_interval=0.01)

    async def one_run(first: int) -> None:
        await fill(store, category, streams=1, per_stream=2)
        task = asyncio.create_task(consumer.run())
        while len(seen.messages) < first + 2:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.03)  # idle: the stop flag waits in this loop
        consumer.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(one_run(0))
    asyncio.run(one_run(2))
    assert [m.data["n"] for m in seen.messages] == [0, 1, 0, 1]
    assert len({m.global_position for m in seen.messages}) == 4


@pytest.mark.messagedb
def test_an_async_projection_whose_connection_dies_mid_batch_resumes_exactly_once(
    messagedb_uri: str,
) -> None:
    class KillsItsConnection(AsyncTally):
        """Ends its own database session at message 9, once."""

        killed = False

        async def handle(self, message: RecordedMessage, session: Any) -> None:
            if message.data["n"] == 9 and not self.killed:
                self.killed = True
                await session.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            await super().handle(message, session)

    async def scenario() -> None:
        async with (
            AsyncMessageDBEventStore(messagedb_uri, max_size=2) as store,
            AsyncPostgresProjectionTarget(app_database_uri(messagedb_uri)) as target,
        ):
            category = new_category()
            await fill(store, category, streams=3, per_stream=6)
            tally = Tally()
            await create_tables(target, tally)
            projection = KillsItsConnection(tally)
            projector = AsyncProjector(
                store, category, projection, target, name=tally.suffix, batch_size=4
            )
            with pytest.raises(ConsumerError):
                await projector.catch_up()
            assert await projector.position() is not None, "the batches before committed"
            assert await projector.catch_up() == 18 - 8
            seen, totals = await read_model(target, tally)
            assert len(seen) == 18
            assert all(count == 6 for _, count in totals)

    asyncio.run(scenario())
