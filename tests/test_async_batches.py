"""The async MessageDB store's batches: concurrent appends in one transaction, each unit
in its own savepoint, and concurrent stream reads in one query.

Each unit of work stays atomic and raises its own errors; a task cancelled before
its batch goes out is left out of it; a batch that fails as a whole (a deadlock)
commits its units one by one; a lost connection sends the batch again. A property
test runs random concurrent workloads with version conflicts through the coalescing
store and the same units one after the other through a store that does not coalesce,
and compares what was stored. Faults (deadlocks, killed backends) run on the private
cluster (`tests/private_postgres.py`), the rest on the shared MessageDB.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.runtime import (
    AsyncMessageDBEventStore,
    CommitOutcomeUnknownError,
    DuplicateMessageError,
    ExpectedVersionError,
    NewMessage,
    StreamWrite,
)
from tests.async_support import Admin, assert_pool_healthy, run, settle, tagged
from tests.private_postgres import PrivateCluster, private_messagedb

__all__ = ["private_messagedb"]  # a fixture, used by name below

pytestmark = pytest.mark.messagedb


@pytest.fixture
def shared_admin(messagedb_uri: str) -> Iterator[Admin]:
    with psycopg.connect(messagedb_uri, autocommit=True) as conn:
        conn.execute("SET search_path = message_store, public")
        yield conn


@pytest.fixture
def private_uri(private_messagedb: PrivateCluster) -> str:
    return private_messagedb.uri


@pytest.fixture
def private_admin(private_uri: str) -> Iterator[Admin]:
    with psycopg.connect(private_uri, autocommit=True) as conn:
        conn.execute("SET search_path = message_store, public")
        yield conn


def category(name: str) -> str:
    """A category of this test run's own (MessageDB's lock is per category)."""
    return f"asyncBatch{name}{uuid.uuid4().hex[:8]}"


def message(kind: str = "Made", **data: Any) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), kind, data, None)


def write(stream: str, expected: int | None, *messages: NewMessage) -> StreamWrite:
    return StreamWrite(stream, expected, list(messages or [message()]))


def stored(admin: Admin, stream: str) -> list[tuple[object, ...]]:
    """The stream's (position, id, type) rows, read by a connection of the test's own."""
    return admin.execute(
        "SELECT position, id::text, type FROM messages WHERE stream_name = %s ORDER BY position",
        (stream,),
    ).fetchall()


def transactions(admin: Admin, ids: Sequence[str]) -> int:
    """In how many transactions the messages were stored: MessageDB stamps each with
    `now()`, the start of its transaction."""
    row = admin.execute(
        "SELECT count(DISTINCT time) FROM messages WHERE id = ANY(%s::uuid[])", (list(ids),)
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


async def waiting_on_lock(admin: Admin, application: str, count: int) -> list[int]:
    """The pids of `count` backends of `application` waiting for a lock, once there are."""
    found: list[int] = []
    for _ in range(1000):
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "AND wait_event_type = 'Lock'",
            (application,),
        ).fetchall()
        found = [int(str(row[0])) for row in rows]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    pytest.fail(f"{len(found)} backends of the store wait for a lock, not {count}")


class CategoryLock:
    """MessageDB's write lock of a category, held by a connection of the test's own."""

    def __init__(self, uri: str, name: str) -> None:
        self.conn = psycopg.connect(uri)
        self.conn.execute("SET search_path = message_store, public")
        self.conn.execute("SELECT acquire_lock(%s)", (name,))

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


async def in_company(store: AsyncMessageDBEventStore) -> None:
    """Two appends, then two reads, at once: a store whose tasks take turns (a new
    one, or after two commits or reads one at a time) runs a task's commit or read at
    once, alone; after this, what tasks send in one turn of the loop goes out in one
    batch."""
    warm = category("Warm")
    await outcomes(*(store.append([write(f"{warm}-{n}", -1)]) for n in range(2)))

    async def read(stream: str) -> None:
        assert [m async for m in store.read(stream)]

    await asyncio.gather(*(read(f"{warm}-{n}") for n in range(2)))


async def outcomes(*operations: Awaitable[None]) -> list[BaseException | None]:
    """Each operation's exception or None, the operations started in one turn of the loop."""
    return list(await asyncio.gather(*operations, return_exceptions=True))


# --- one transaction, each unit its own outcome -------------------------------------


def test_concurrent_appends_share_one_commit_and_a_refused_unit_fails_only_its_task(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    alpha, zeta = category("Alpha"), category("Zeta")
    s = [f"{alpha}-{n}" for n in range(5)]
    other = f"{zeta}-0"
    taken = message()
    units = [
        [write(s[0], -1)],  # stored
        [write(s[1], -1)],  # refused: s[1] holds a message already
        [write(s[2], -1, message(), message())],  # stored, two messages
        [write(s[3], -1), write(other, -1)],  # stored, two categories
        [write(s[0], -1)],  # refused: the first unit of the batch wrote s[0]
        [write(s[4], -1, message(), NewMessage(taken.id, "Made", {}, None))],  # duplicate id
        [write(s[2], 1, message())],  # stored after the third unit: s[2] is at 1 then
    ]

    async def main() -> list[BaseException | None]:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=2) as store:
            await store.append([write(s[1], -1), write(f"{alpha}-taken", -1, taken)])
            await in_company(store)
            return await outcomes(*(store.append(unit) for unit in units))

    found = run(main)
    assert found[0] is None
    assert found[2] is None
    assert found[3] is None
    assert found[6] is None
    assert isinstance(found[1], ExpectedVersionError)
    assert (found[1].stream_name, found[1].expected_version, found[1].actual_version) == (
        s[1],
        -1,
        0,
    )
    assert isinstance(found[4], ExpectedVersionError)
    assert (found[4].stream_name, found[4].actual_version) == (s[0], 0)
    assert isinstance(found[5], DuplicateMessageError)
    assert [row[1] for row in stored(shared_admin, s[0])] == [units[0][0].messages[0].id]
    assert [row[0] for row in stored(shared_admin, s[2])] == [0, 1, 2]
    assert stored(shared_admin, s[4]) == [], "a refused unit stores nothing"
    assert len(stored(shared_admin, s[3])) == len(stored(shared_admin, other)) == 1
    ids = [m.id for i in (0, 2, 3, 6) for w in units[i] for m in w.messages]
    assert transactions(shared_admin, ids) == 1, "the stored units share one transaction"


def test_batches_with_refused_units_round_after_round_each_commit_once(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    """Ten batches on one connection, each with a refused unit in its middle: the units
    after it go out in a second round trip of the same transaction, every time (the
    statements of a pipeline cut off by a refusal once left psycopg's cache of
    prepared statements wrong, and later batches failed as a whole)."""
    alpha = category("Rounds")

    async def main() -> list[list[str]]:
        committed = []
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=1) as store:
            await store.append([write(f"{alpha}-taken", -1)])
            await in_company(store)
            for round_number in range(10):
                units = [[write(f"{alpha}-{round_number}x{n}", -1)] for n in range(4)]
                units.insert(2, [write(f"{alpha}-taken", -1)])
                found = await outcomes(*(store.append(unit) for unit in units))
                assert [error is None for error in found] == [True, True, False, True, True]
                committed.append([u[0].messages[0].id for i, u in enumerate(units) if i != 2])
        return committed

    for ids in run(main):
        assert transactions(shared_admin, ids) == 1


def test_a_task_alone_commits_alone(messagedb_uri: str, shared_admin: Admin) -> None:
    alpha = category("Alone")
    units = [[write(f"{alpha}-{n}", -1)] for n in range(3)]

    async def main() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri) as store:
            for unit in units:
                await store.append(unit)

    run(main)
    assert transactions(shared_admin, [u[0].messages[0].id for u in units]) == 3


def test_appends_that_wait_for_a_commit_in_flight_go_out_together(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    """The first commit waits for the category's lock; the 20 appends made meanwhile
    commit in one transaction once it is released."""
    uri, application = tagged(messagedb_uri)
    alpha = category("Queue")
    first = [write(f"{alpha}-first", -1)]
    units = [[write(f"{alpha}-{n}", -1)] for n in range(20)]

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            lock = CategoryLock(messagedb_uri, alpha)
            try:
                in_flight = asyncio.ensure_future(store.append(first))
                await waiting_on_lock(shared_admin, application, 1)
                later = [asyncio.ensure_future(store.append(unit)) for unit in units]
                await asyncio.sleep(0.05)
            finally:
                lock.release()
            assert await outcomes(in_flight, *later) == [None] * 21

    run(main)
    assert transactions(shared_admin, [u[0].messages[0].id for u in units]) == 1


# --- cancellation -------------------------------------------------------------------


def test_a_task_cancelled_before_its_batch_goes_out_stores_nothing(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    uri, application = tagged(messagedb_uri)
    alpha = category("Cancel")
    first, kept, dropped = ([write(f"{alpha}-{n}", -1)] for n in range(3))

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            lock = CategoryLock(messagedb_uri, alpha)
            try:
                in_flight = asyncio.ensure_future(store.append(first))
                await waiting_on_lock(shared_admin, application, 1)
                waiting = [asyncio.ensure_future(store.append(u)) for u in (kept, dropped)]
                await asyncio.sleep(0.01)
                waiting[1].cancel()
                await asyncio.sleep(0.01)
            finally:
                lock.release()
            assert await outcomes(in_flight, waiting[0]) == [None, None]
            with pytest.raises(asyncio.CancelledError):
                await waiting[1]
            await settle(shared_admin, application, store._pool._open)
            assert_pool_healthy(store)

    run(main)
    assert len(stored(shared_admin, first[0].stream_name)) == 1
    assert len(stored(shared_admin, kept[0].stream_name)) == 1
    assert stored(shared_admin, dropped[0].stream_name) == []


def test_a_task_cancelled_after_its_batch_went_out_leaves_the_others_committing(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    """Two units in one batch waiting for the lock; one task is cancelled: the batch
    goes on (the cancelled unit's outcome is unknown to its task, as after any
    cancelled commit) and the other task's unit is stored."""
    uri, application = tagged(messagedb_uri)
    alpha = category("Sent")
    units = [[write(f"{alpha}-{n}", -1)] for n in range(2)]

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            await in_company(store)
            lock = CategoryLock(messagedb_uri, alpha)
            try:
                tasks = [asyncio.ensure_future(store.append(unit)) for unit in units]
                await waiting_on_lock(shared_admin, application, 1)
                tasks[0].cancel()
                await asyncio.sleep(0.01)
            finally:
                lock.release()
            await tasks[1]
            assert tasks[0].cancelled()
            assert_pool_healthy(store)

    run(main)
    assert len(stored(shared_admin, units[1][0].stream_name)) == 1
    assert len(stored(shared_admin, units[0][0].stream_name)) in (0, 1)


def test_a_batch_whose_tasks_are_all_cancelled_stores_all_or_nothing_and_frees_its_connection(
    messagedb_uri: str, shared_admin: Admin
) -> None:
    uri, application = tagged(messagedb_uri)
    alpha = category("AllGone")
    units = [[write(f"{alpha}-{n}", -1)] for n in range(3)]

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            await in_company(store)
            lock = CategoryLock(messagedb_uri, alpha)
            try:
                tasks = [asyncio.ensure_future(store.append(unit)) for unit in units]
                await waiting_on_lock(shared_admin, application, 1)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                assert_pool_healthy(store)  # the batch ended before the last task did
            finally:
                lock.release()
            await settle(shared_admin, application, store._pool._open)
            found = {len(stored(shared_admin, unit[0].stream_name)) for unit in units}
            assert found in ({0}, {1}), "all or nothing"
            for unit in units:  # the retry stores each once
                await store.append(unit)

    run(main)
    assert {len(stored(shared_admin, unit[0].stream_name)) for unit in units} == {1}


# --- a batch that fails as a whole ------------------------------------------------


def test_a_batch_chosen_as_a_deadlock_victim_commits_each_unit_alone(
    private_uri: str, private_admin: Admin
) -> None:
    """The batch locks category A, then waits for B, held by another session, which
    then waits for A: PostgreSQL ends the batch (it waited longer). Each unit is
    then committed on its own and every task succeeds."""
    uri, application = tagged(private_uri)
    alpha, zeta = category("A"), category("Z")
    units = [[write(f"{alpha}-0", -1)], [write(f"{alpha}-1", -1), write(f"{zeta}-1", -1)]]

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            await in_company(store)
            other = psycopg.connect(private_uri)
            other.execute("SET search_path = message_store, public")
            other.execute("SET deadlock_timeout = '60s'")  # the batch detects it first
            other.execute("SELECT acquire_lock(%s)", (zeta,))
            tasks = [asyncio.ensure_future(store.append(unit)) for unit in units]
            await waiting_on_lock(private_admin, application, 1)
            await asyncio.to_thread(other.execute, "SELECT acquire_lock(%s)", (alpha,))
            other.rollback()
            other.close()
            assert await outcomes(*tasks) == [None, None]
            assert_pool_healthy(store)

    run(main)
    ids = [m.id for unit in units for w in unit for m in w.messages]
    assert transactions(private_admin, ids) == 2, "each unit in a transaction of its own"
    deadlocks = private_admin.execute(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert deadlocks is not None
    assert int(str(deadlocks[0])) >= 1


@pytest.mark.parametrize("kills", [1, 2])
def test_a_batch_whose_connection_is_lost_is_sent_again_or_unknown_to_every_task(
    private_uri: str, private_admin: Admin, kills: int
) -> None:
    """The batch waits for the category lock and its backend is terminated: once, the
    batch goes out again on a new connection and every unit is stored once; twice,
    every task learns that its commit's outcome is unknown, and retrying stores once."""
    uri, application = tagged(private_uri)
    alpha = category("Kill")
    units = [[write(f"{alpha}-{n}", -1)] for n in range(3)]

    async def main() -> None:
        async with AsyncMessageDBEventStore(uri, max_size=4) as store:
            await in_company(store)
            lock = CategoryLock(private_uri, alpha)
            try:
                tasks = [asyncio.ensure_future(store.append(unit)) for unit in units]
                for _ in range(kills):
                    (pid,) = await waiting_on_lock(private_admin, application, 1)
                    private_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    await asyncio.sleep(0.05)
            finally:
                lock.release()
            found = await outcomes(*tasks)
            if kills == 1:
                assert found == [None, None, None]
            else:
                assert all(isinstance(error, CommitOutcomeUnknownError) for error in found)
                assert len({id(error) for error in found}) == 3, "each task its own error"
                for unit in units:
                    await store.append(unit)
            assert_pool_healthy(store)

    run(main)
    assert {len(stored(private_admin, unit[0].stream_name)) for unit in units} == {1}


# --- reads --------------------------------------------------------------------------


def test_concurrent_reads_share_queries_and_each_gets_its_own_stream_page_by_page(
    messagedb_uri: str,
) -> None:
    alpha = category("Read")
    lengths = [0, 1, 4, 5, 6, 13, 2, 9]
    streams = [f"{alpha}-{n}" for n in range(len(lengths))]

    async def main() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri, batch_size=5, max_size=4) as store:
            await in_company(store)
            for stream, length in zip(streams, lengths, strict=True):
                if length:
                    await store.append([write(stream, -1, *(message(n=n) for n in range(length)))])
            taken = 0
            acquire = store._pool.acquire

            async def counted() -> Any:
                nonlocal taken
                taken += 1
                return await acquire()

            store._pool.acquire = counted  # type: ignore[method-assign]

            async def read(stream: str, position: int) -> list[tuple[int, int]]:
                return [(m.position, m.data["n"]) async for m in store.read(stream, position)]

            starts = [0, 0, 2, 0, 5, 3, 7, 0]
            found = await asyncio.gather(*map(read, streams, starts))
            for length, start, got in zip(lengths, starts, found, strict=True):
                assert got == [(n, n) for n in range(start, length)]
            assert taken < len(streams), "the first pages of the streams went out together"

    run(main)


# --- the property: coalesced commits store what sequential ones store -------------------

Step = tuple[int, int, bool, bool]
"""One unit of a task: its own stream, whether it also writes the task's second stream
(another category), whether its expected version is stale, and whether it also appends
to a stream every task shares (no expected version)."""


@st.composite
def workloads(draw: st.DrawFn) -> list[list[Step]]:
    tasks = draw(st.integers(2, 24))
    return [
        draw(
            st.lists(
                st.tuples(st.integers(0, 2), st.integers(0, 1), st.booleans(), st.booleans()),
                min_size=1,
                max_size=6,
            )
        )
        for _ in range(tasks)
    ]


class Run:
    """One run of a workload: its own stream names, the units sent and their outcomes."""

    def __init__(self, alpha: str, zeta: str) -> None:
        self.alpha, self.zeta = alpha, zeta
        self.outcomes: dict[int, list[str]] = {}

    def streams(self, task: int) -> list[str]:
        return [f"{self.alpha}-{task}x{k}" for k in range(3)] + [f"{self.zeta}-{task}"]

    def shared(self) -> str:
        return f"{self.alpha}-shared"

    async def task(
        self, append: Callable[[list[StreamWrite]], Awaitable[None]], task: int, steps: list[Step]
    ) -> None:
        versions = [-1] * 4
        own = self.streams(task)
        told: list[str] = []
        for number, (index, second, stale, shared) in enumerate(steps):
            targets = [index] + ([3] if second else [])
            unit = [
                write(
                    own[t],
                    versions[t] - 1 if stale and t == index else versions[t],
                    message(f"T{task}S{number}"),
                )
                for t in targets
            ]
            if shared:
                unit.append(write(self.shared(), None, message(f"T{task}S{number}")))
            try:
                await append(unit)
            except ExpectedVersionError:
                told.append("conflict")
            else:
                told.append("stored")
                for t in targets:
                    versions[t] += 1
        self.outcomes[task] = told


def contents(admin: Admin, run_: Run, tasks: int) -> tuple[object, ...]:
    """Each task's streams (positions and types, in order) and the shared stream's
    types as a multiset with its positions, names made independent of the run."""
    own = [
        [(row[0], row[2]) for row in stored(admin, stream)]
        for task in range(tasks)
        for stream in run_.streams(task)
    ]
    shared = stored(admin, run_.shared())
    return own, sorted(str(row[2]) for row in shared), [row[0] for row in shared]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=workloads())
def test_coalesced_concurrent_commits_store_what_sequential_commits_store(
    messagedb_uri: str, shared_admin: Admin, workload: list[list[Step]]
) -> None:
    """Concurrent tasks through the coalescing store (their units batched, conflicts
    refused inside batches) against the same units one task after the other through a
    store that does not coalesce: the same outcomes for every unit, the same streams
    (positions 0..n, no gap, no duplicate), the shared stream holding the same messages."""
    concurrent = Run(category("PropA"), category("PropZ"))
    sequential = Run(category("PropA"), category("PropZ"))

    async def main() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=4) as store:
            await asyncio.gather(
                *(concurrent.task(store.append, n, steps) for n, steps in enumerate(workload))
            )
        plain = AsyncMessageDBEventStore(messagedb_uri, max_size=1, coalesce=False)
        async with plain:
            for n, steps in enumerate(workload):
                await sequential.task(plain.append, n, steps)

    run(main)
    assert concurrent.outcomes == sequential.outcomes
    tasks = len(workload)
    assert contents(shared_admin, concurrent, tasks) == contents(shared_admin, sequential, tasks)
    positions = [row[0] for row in stored(shared_admin, concurrent.shared())]
    assert positions == list(range(len(positions)))
