"""Faults with the async MessageDB store: cancelled tasks, killed backends, a restarted server.

The async twins of `tests/test_faults.py`, with cancellation in the place of
interrupts. Every test runs on the private cluster (`tests/private_postgres.py`),
never on the machine's shared PostgreSQL. Each runs its coroutine with `run`,
which fails the test when the event loop reported anything (a task destroyed
while pending, an exception nobody retrieved).
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from typing import Any, ClassVar, TypeVar

import psycopg
import pytest

from aggregen.runtime import (
    Aggregate,
    AsyncMessageDBEventStore,
    AsyncRepository,
    AsyncUnitOfWork,
    CommitOutcomeUnknownError,
    EventStoreError,
    ExpectedVersionError,
    NewMessage,
    StreamWrite,
)
from aggregen.runtime.repository_async import commit_async
from tests.async_support import Admin, assert_pool_healthy, run, settle, tagged
from tests.domain import User
from tests.private_postgres import PrivateCluster, private_messagedb
from tests.test_faults import (
    KILL_COMMITS,
    BackendKiller,
    admin,
    check_kill_errors,
    check_outage,
    check_refused,
    kill_writers,
    messagedb_uri,
    wait_for_sync_rep,
)

__all__ = ["admin", "messagedb_uri", "private_messagedb"]  # fixtures, used by name below

T = TypeVar("T")


class FirstUser(User):
    __category__: ClassVar[str] = "asyncFaultAlpha"


class LastUser(User):
    __category__: ClassVar[str] = "asyncFaultZeta"


def versions(admin: Admin, users: list[User]) -> set[int]:
    """Each aggregate's stream version, read by a connection of the test's own."""
    found = set()
    for user in users:
        row = admin.execute("SELECT stream_version(%s::varchar)", (user._stream_name(),)).fetchone()
        found.add(-1 if row is None or row[0] is None else int(str(row[0])))
    return found


# --- cancellation -------------------------------------------------------------------

CANCEL_ROUNDS = 120
LONG_STREAM = 120


async def cancel_soon(rng: random.Random, scale: float, operation: Awaitable[T]) -> bool:
    """Run `operation` in a task and cancel it after a random delay (in seconds, or in
    turns of the event loop, one or the other); whether the cancellation landed."""
    task = asyncio.ensure_future(operation)
    if rng.random() < 0.5:
        handle = asyncio.get_running_loop().call_later(rng.uniform(0, scale), task.cancel)
    else:
        for _ in range(rng.randrange(12)):
            await asyncio.sleep(0)
        task.cancel()
        handle = None
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        return True
    finally:
        if handle is not None:
            handle.cancel()
    return False


@pytest.mark.parametrize("max_size", [1, 3])
def test_tasks_cancelled_at_random_points_store_all_or_nothing_and_leave_the_pool_healthy(
    messagedb_uri: str, admin: Admin, max_size: int
) -> None:
    """Commits of one message and of three (pipelined, two categories), `get`s of a
    stream read in pages, and tasks waiting for a connection, cancelled at random.

    After each round: every unit stored all or nothing (read by another connection,
    once the server finished what the cancelled task had sent), the same unit
    retried (then, or at once, racing the server's work on the cancelled one) is
    stored once, the other tasks got their aggregates, and the pool
    holds no connection in use. At the end the server has exactly the pool's
    connections, and `close` ends them all."""
    uri, application = tagged(messagedb_uri)
    rng = random.Random(20261130 + max_size)
    landed: Counter[str] = Counter()

    async def main() -> None:
        store = AsyncMessageDBEventStore(uri, max_size=max_size, timeout=10, batch_size=16)
        firsts, lasts = AsyncRepository(FirstUser, store), AsyncRepository(LastUser, store)
        replaying = AsyncRepository(FirstUser, store, snapshot_threshold=0)  # reads 8 pages
        long = FirstUser.register(email="long@example.org")
        for n in range(LONG_STREAM):
            long.rename(first_name=f"n{n}")
        await firsts.add(long)
        scale = 0.003
        for round_number in range(CANCEL_ROUNDS):
            kind = ("one message", "three messages", "get", "checkout")[round_number % 4]
            if kind in ("get", "checkout"):
                # "checkout": more readers than connections, one of them cancelled
                reader = replaying if round_number % 8 < 4 else firsts
                readers = [reader.get(long.id) for _ in range(1 if kind == "get" else 6)]
                tasks = [asyncio.ensure_future(reader) for reader in readers[1:]]
                if await cancel_soon(rng, scale, readers[0]):
                    landed[kind] += 1
                for loaded in await asyncio.gather(*tasks):
                    assert (loaded._version, loaded.first_name) == (
                        LONG_STREAM,
                        f"n{LONG_STREAM - 1}",
                    )
            else:
                unit: list[User] = [FirstUser.register(email=f"{round_number}@example.org")]
                if kind == "three messages":
                    unit += [
                        FirstUser.register(email="b@x.org"),
                        LastUser.register(email="c@x.org"),
                    ]
                entries: list[tuple[Any, Aggregate]] = [
                    (lasts if isinstance(user, LastUser) else firsts, user) for user in unit
                ]
                cancelled = await cancel_soon(rng, scale, commit_async(store, entries))
                scale *= 1.05 if cancelled else 0.9
                if round_number % 8 < 4:  # retried at once, racing what the server still runs
                    await commit_async(store, entries)
                    await settle(admin, application, store._pool._open)
                else:
                    await settle(admin, application, store._pool._open)
                    found = versions(admin, unit)
                    assert found in ({-1}, {0}), f"round {round_number}: a part was stored"
                    landed["stored although cancelled"] += cancelled and found == {0}
                    await commit_async(store, entries)  # the same unit again
                landed[kind] += cancelled
                assert versions(admin, unit) == {0}, "stored once"
                assert all(not user.pending_events for user in unit)
            assert_pool_healthy(store)
            check = FirstUser.register(email="next@example.org")
            await firsts.add(check)  # the next command works
            assert (await firsts.get(check.id)).email == "next@example.org"

        assert_pool_healthy(store)
        await settle(admin, application, store._pool._open)
        await store.close()
        await settle(admin, application, 0)

    run(main)
    print(f"\n{CANCEL_ROUNDS} rounds, cancellations that landed: {dict(landed)}")
    for kind in ("one message", "three messages", "get", "checkout"):
        assert landed[kind] >= CANCEL_ROUNDS // 40, f"cancellations landed in: {kind}"


CONNECT_ROUNDS = 150


def test_tasks_cancelled_while_connecting_leave_no_connection_open(
    messagedb_uri: str, admin: Admin
) -> None:
    """Each round starts with no idle connection, so the operation connects first; it is
    cancelled at a random moment (most land while connecting). No connection may stay
    open, on the pool's side or the server's, and none may be dropped unclosed (which
    psycopg reports as a ResourceWarning, an error here)."""
    uri, application = tagged(messagedb_uri)
    rng = random.Random(11)

    async def main() -> int:
        store = AsyncMessageDBEventStore(uri, max_size=2)
        landed = 0
        for _ in range(CONNECT_ROUNDS):
            store._pool.discard_idle()
            landed += await cancel_soon(rng, 0.04, store.stream_version("asyncFaultAlpha-x"))
            assert_pool_healthy(store)
        await settle(admin, application, store._pool._open)
        assert await store.stream_version("asyncFaultAlpha-x") == -1
        await store.close()
        await settle(admin, application, 0)
        return landed

    landed = run(main)
    gc.collect()  # a connection dropped unclosed warns now
    print(f"\n{landed} of {CONNECT_ROUNDS} operations cancelled while connecting or reading")
    assert landed >= CONNECT_ROUNDS // 4


def test_a_waiter_cancelled_as_it_is_woken_raises_and_hands_the_connection_on(
    messagedb_uri: str,
) -> None:
    """One connection, two tasks waiting for it. The first is woken by the release and
    cancelled before it runs: its cancellation must not be lost (it raises
    `CancelledError`, holding nothing), and neither may the wake-up (the second
    task gets the connection without waiting for the pool's timeout)."""

    async def main() -> None:
        store = AsyncMessageDBEventStore(messagedb_uri, max_size=1, timeout=30)
        pool = store._pool
        try:
            conn = await pool.acquire()
            first = asyncio.ensure_future(pool.acquire())
            second = asyncio.ensure_future(pool.acquire())
            for _ in range(5):
                await asyncio.sleep(0)
            assert len(pool._waiters) == 2
            pool.release(conn, healthy=True)  # wakes `first`
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            for _ in range(5):
                await asyncio.sleep(0)
            assert second.done(), "the wake-up went to the cancelled task and was lost"
            pool.release(second.result(), healthy=True)
            assert_pool_healthy(store)
        finally:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await store.close()

    run(main)


def test_a_task_that_waits_too_long_for_a_connection_gets_a_clear_error(
    messagedb_uri: str,
) -> None:
    """Every connection held past the pool's `timeout`: `EventStoreError` saying so; the
    waiter leaves no trace, and the next call after the release works."""

    async def main() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=1, timeout=0.2) as store:
            held = await store._pool.acquire()
            with pytest.raises(EventStoreError, match=r"connections stayed in use for 0\.2 s"):
                await store.stream_version("asyncFaultAlpha-x")
            assert len(store._pool._waiters) == 0
            store._pool.release(held, healthy=True)
            assert await store.stream_version("asyncFaultAlpha-x") == -1
            assert_pool_healthy(store)

    run(main)


# --- killed backends and a restarted server -------------------------------------------


async def commit_unit(
    store: AsyncMessageDBEventStore, firsts: list[FirstUser], last: LastUser
) -> None:
    async with AsyncUnitOfWork(store):
        for user in firsts:
            await AsyncRepository(FirstUser, store).add(user)
        await AsyncRepository(LastUser, store).add(last)


@pytest.mark.parametrize("kills", [1, 2])
def test_a_backend_killed_in_the_middle_of_a_commit_stores_all_or_nothing(
    messagedb_uri: str, admin: Admin, kills: int
) -> None:
    """The commit waits for the category lock; its backend is terminated once (the
    store retries on a fresh connection and succeeds) or twice (the outcome is
    unknown, nothing is stored, and the retry the error offers stores it)."""
    first = [FirstUser.register(email=f"{n}@example.org") for n in range(3)]
    last = LastUser.register(email="last@example.org")

    async def main() -> None:
        store = AsyncMessageDBEventStore(messagedb_uri, timeout=5)
        done = threading.Event()
        try:
            with psycopg.connect(messagedb_uri) as blocker:
                blocker.execute("SET search_path = message_store, public")
                blocker.execute("SELECT pg_advisory_xact_lock(hash_64('asyncFaultZeta'))")
                commit = asyncio.ensure_future(commit_unit(store, first, last))
                commit.add_done_callback(lambda _: done.set())
                killed = await asyncio.to_thread(kill_writers, admin, kills, done)
                blocker.rollback()  # releases the category lock
            assert killed == kills
            outcome = (await asyncio.gather(commit, return_exceptions=True))[0]
            stored = {await store.stream_version(user._stream_name()) for user in [*first, last]}
            if outcome is None:
                assert kills == 1
                assert stored == {0}
            else:
                assert isinstance(outcome, CommitOutcomeUnknownError), repr(outcome)
                assert "Retrying the same unit of work is safe" in str(outcome)
                assert stored == {-1}, "all or nothing"
                assert all(len(user.pending_events) == 1 for user in [*first, last])
                await commit_unit(store, first, last)  # the retry the message offers
                assert {await store.stream_version(u._stream_name()) for u in first} == {0}
            after = FirstUser.register(email="after@example.org")
            await AsyncRepository(FirstUser, store).add(after)
            assert (await AsyncRepository(FirstUser, store).get(after.id)).email == after.email
            assert_pool_healthy(store)
        finally:
            await store.close()

    run(main)


def test_calls_fail_clearly_while_postgres_is_down_and_work_again_at_once_after(
    messagedb_uri: str, private_messagedb: PrivateCluster
) -> None:
    """While down: the cause, never "busy"; back: the very next call works."""

    async def main() -> None:
        store = AsyncMessageDBEventStore(messagedb_uri, timeout=2)
        users = AsyncRepository(User, store)
        user = User.register(email="down@example.org")
        await users.add(user)
        queued = User.register(email="queued@example.org")
        try:
            private_messagedb.stop()
            try:
                messages = []
                for _ in range(3):  # first on the pooled (dead) connection, then on none
                    with pytest.raises(EventStoreError) as caught:
                        await users.get(user.id)
                    messages.append(str(caught.value))
                with pytest.raises(EventStoreError) as caught:
                    await users.add(queued)
                assert not isinstance(caught.value, CommitOutcomeUnknownError), "nothing sent"
                messages.append(str(caught.value))
                check_refused(messages)
            finally:
                private_messagedb.start()  # returns once the server accepts connections
            await users.add(queued)  # the first call after the server's return
            assert (await users.get(queued.id)).email == "queued@example.org"
            assert (await users.get(user.id)).email == "down@example.org"
            assert_pool_healthy(store)
        finally:
            await store.close()

    run(main)


def test_a_commit_lost_after_commit_says_its_outcome_is_unknown_and_a_retry_stores_it_once(
    messagedb_uri: str, private_messagedb: PrivateCluster, admin: Admin
) -> None:
    """COMMIT durable, reply never sent (an absent synchronous standby holds the
    backend), then the server crashes: the outcome is unknown, and it was stored."""
    first, last = FirstUser.register(email="a@example.org"), LastUser.register(email="b@x.org")

    async def main() -> None:
        store = AsyncMessageDBEventStore(messagedb_uri, timeout=2)
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'aggregen_absent_standby'")
        admin.execute("SELECT pg_reload_conf()")
        commit = asyncio.ensure_future(commit_unit(store, [first], last))
        try:
            await asyncio.to_thread(wait_for_sync_rep, admin)
            admin.close()
            await asyncio.to_thread(private_messagedb.stop, "immediate")
            outcome = (await asyncio.gather(commit, return_exceptions=True))[0]
        finally:
            if not private_messagedb.running():
                private_messagedb.start()
            with psycopg.connect(messagedb_uri, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
                conn.execute("SELECT pg_reload_conf()")
        try:
            assert isinstance(outcome, CommitOutcomeUnknownError), outcome
            assert "whether the commit was stored is unknown" in str(outcome)
            assert [len(first.pending_events), len(last.pending_events)] == [1, 1]
            assert await store.stream_version(first._stream_name()) == 0, "it was stored"
            await commit_unit(store, [first], last)  # the same unit of work again
            assert [first.pending_events, last.pending_events] == [(), ()]
            assert await store.stream_version(first._stream_name()) == 0, "stored once"
            assert await store.stream_version(last._stream_name()) == 0, "stored once"
            assert_pool_healthy(store)
        finally:
            await store.close()

    run(main)


def test_backends_killed_again_and_again_give_clear_errors_and_lose_nothing(
    messagedb_uri: str, admin: Admin
) -> None:
    """A thread terminates the store's backends every few milliseconds while 8 tasks
    commit units of three aggregates, each retried as it is until it succeeds: every
    error says what happened, every unit is stored exactly once."""
    uri, application = tagged(messagedb_uri)
    killer = BackendKiller(admin, application)
    errors: list[str] = []
    units: list[tuple[list[FirstUser], LastUser]] = []

    async def worker(store: AsyncMessageDBEventStore, deadline: float) -> None:
        while (len(units) < KILL_COMMITS or killer.killed <= KILL_COMMITS // 2) and (
            time.monotonic() < deadline
        ):
            n = len(units)
            unit = (
                [FirstUser.register(email=f"{n}.{k}@x.org") for k in range(2)],
                LastUser.register(email=f"{n}@x.org"),
            )
            units.append(unit)
            for _ in range(200):
                try:
                    await commit_unit(store, *unit)
                    break
                except EventStoreError as error:
                    errors.append(str(error))
            else:
                pytest.fail("a unit of work never got through")

    async def main() -> None:
        store = AsyncMessageDBEventStore(uri, timeout=5, max_size=4)
        killer.start()
        try:
            deadline = time.monotonic() + 60
            await asyncio.gather(*(worker(store, deadline) for _ in range(8)))
        finally:
            await asyncio.to_thread(killer.stop)
        try:
            for first_users, last_user in units:
                found = {await store.stream_version(u._stream_name()) for u in first_users}
                assert found == {0}
                assert await store.stream_version(last_user._stream_name()) == 0
            assert_pool_healthy(store)
        finally:
            await store.close()

    run(main)
    check_kill_errors(killer, errors, f"{len(units)} async units of work")


def test_a_message_that_cannot_be_made_stores_nothing_and_keeps_the_connection(
    messagedb_uri: str,
) -> None:
    """Data that is not JSON-ready in the last of three messages: `TypeError`, nothing
    stored, and the rolled-back connection goes back to the pool, as in the sync store."""

    async def main() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=1) as store:
            users = AsyncRepository(FirstUser, store)
            await users.add(FirstUser.register(email="warm@example.org"))
            (conn,) = store._pool._idle
            stream = FirstUser.stream_name(str(uuid.uuid4()))
            messages = [
                NewMessage(str(uuid.uuid4()), "Registered", {"email": "a@x.org"}, None),
                NewMessage(str(uuid.uuid4()), "Renamed", {"first_name": "b"}, None),
                NewMessage(str(uuid.uuid4()), "Renamed", {"first_name": object()}, None),
            ]
            with pytest.raises(TypeError):
                await store.append([StreamWrite(stream, -1, messages)])
            assert await store.stream_version(stream) == -1
            assert store._pool._idle == [conn], "the connection was closed"
            assert_pool_healthy(store)

    run(main)


CLIENTS = 40


def test_many_tasks_through_a_restart_fail_clearly_and_lose_nothing(
    messagedb_uri: str, private_messagedb: PrivateCluster
) -> None:
    """40 tasks rename 10 users every 10 ms through a 2 s outage, on 4 connections. A
    rename whose add failed is added again as it is (appends are idempotent by message
    id) until it is stored or refused with `ExpectedVersionError`. Every error while the
    server is down names its cause (never "busy"); calls work again once it is back; no
    rename is lost, doubled or stored without having been sent; no gap."""
    ids = [str(uuid.uuid4()) for _ in range(10)]
    events: list[tuple[float, str]] = []
    acknowledged: set[str] = set()
    sent: set[str] = set()
    running = True

    async def client(store: AsyncMessageDBEventStore, number: int) -> None:
        users = AsyncRepository(FirstUser, store)
        for attempt in range(10_000):
            if not running:
                return
            name = f"c{number}-{attempt}"
            try:
                user = await users.get(ids[number % len(ids)])
                user.rename(first_name=name)
                sent.add(name)
                for _ in range(1000):
                    try:
                        await users.add(user)
                        break
                    except EventStoreError as error:  # ExpectedVersionError goes through
                        events.append((time.monotonic(), str(error)))
                        await asyncio.sleep(0.01)
                else:
                    pytest.fail("a rename never got through")
                acknowledged.add(name)
                events.append((time.monotonic(), ""))
            except ExpectedVersionError:
                pass
            except EventStoreError as error:
                events.append((time.monotonic(), str(error)))
            await asyncio.sleep(0.01)

    async def main() -> tuple[float, float]:
        nonlocal running
        async with AsyncMessageDBEventStore(messagedb_uri, timeout=2, max_size=4) as store:
            users = AsyncRepository(FirstUser, store)
            for user_id in ids:
                await users.add(FirstUser.register(email="poll@example.org", id=user_id))
            clients = [asyncio.ensure_future(client(store, n)) for n in range(CLIENTS)]
            try:
                await asyncio.sleep(0.3)
                await asyncio.to_thread(private_messagedb.stop)
                down_at = time.monotonic()
                await asyncio.sleep(2)
                await asyncio.to_thread(private_messagedb.start)
                back_at = time.monotonic()  # pg_ctl -w returns once connections are accepted
                await asyncio.sleep(1)
            finally:
                running = False
                if not private_messagedb.running():
                    private_messagedb.start()
                await asyncio.gather(*clients)
            stored: list[str] = []
            for user_id in ids:
                messages = [m async for m in store.read(FirstUser.stream_name(user_id))]
                assert [m.position for m in messages] == list(range(len(messages))), "a gap"
                stored += [m.data["first_name"] for m in messages[1:]]
            assert len(stored) == len(set(stored)), "a rename was stored twice"
            assert acknowledged <= set(stored), "an acknowledged rename is missing"
            assert set(stored) <= sent, "a phantom rename"
            assert_pool_healthy(store)
            return down_at, back_at

    down_at, back_at = run(main)
    check_outage(events, down_at, back_at, f"{CLIENTS} tasks, {len(acknowledged)} renames stored: ")
