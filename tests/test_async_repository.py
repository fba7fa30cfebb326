"""`AsyncRepository` and `AsyncUnitOfWork` on both async stores, against the sync ones.

Each test runs its coroutine on a fresh event loop. What the async repository stores
is read back by the synchronous repository from the same streams, and must be the
same state, version for version: the two faces share every step but the I/O.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from identity import AsyncUserRepository, User, UserRepository

from aggregen.runtime import (
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncRepository,
    AsyncUnitOfWork,
    EventStore,
    ExpectedVersionError,
    InMemoryEventStore,
    MessageDBEventStore,
    Repository,
    StreamExistsError,
    UnitOfWork,
    update_with_retry_async,
)

Scenario = Callable[[AsyncEventStore, EventStore], Awaitable[None]]


@pytest.fixture(params=["async-memory", "async-messagedb"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario with an async store and a sync store on the same streams."""

    def run_scenario(scenario: Scenario) -> None:
        async def main() -> None:
            if request.param == "async-memory":
                sync_memory = InMemoryEventStore()
                await scenario(AsyncInMemoryEventStore(sync_memory), sync_memory)
                return
            uri: str = request.getfixturevalue("messagedb_uri")
            store = AsyncMessageDBEventStore(uri, max_size=4)
            sync_store: MessageDBEventStore = request.getfixturevalue("messagedb_store")
            try:
                await scenario(store, sync_store)
            finally:
                await store.close()

        asyncio.run(main())

    return run_scenario


def state(user: User) -> dict[str, Any]:
    return {k: v for k, v in vars(user).items() if k not in ("_pending", "_stream")}


@pytest.mark.parametrize("threshold", [0, 3])
def test_what_the_async_repository_stores_the_sync_one_reads_alike(
    run: Callable[[Scenario], None], threshold: int
) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store, snapshot_threshold=threshold)
        user = User.register(email="async@example.org", first_name="n0")
        await users.add(user)
        for n in range(1, 8):
            user = await users.get(user.id)
            user.rename(first_name=f"n{n}")
            await users.add(user)

        loaded = await users.get(user.id)
        plain = Repository(User, sync_store, snapshot_threshold=0)
        assert state(loaded) == state(plain.get(user.id))
        assert loaded._version == 7
        for version in range(8):
            as_of = await users.get(user.id, version=version)
            assert state(as_of) == state(plain.get(user.id, version=version))
        assert await users.exists(user.id)
        assert not await users.exists(str(uuid.uuid4()))
        assert await users.history(user.id) == UserRepository(sync_store).history(user.id)
        snapshots = sync_store.stream_version(f"user:snapshot-{user.id}")
        assert snapshots == (-1 if threshold == 0 else 1)

    run(scenario)


def test_conflicts_are_the_sync_errors(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store)
        user = User.register(email="race@example.org")
        await users.add(user)
        first, second = await users.get(user.id), await users.get(user.id)
        first.rename(first_name="A")
        await users.add(first)
        second.rename(first_name="B")
        with pytest.raises(ExpectedVersionError):
            await users.add(second)
        again = User.register(email="again@example.org", id=user.id)
        with pytest.raises(StreamExistsError):
            await users.add(again)
        assert (await users.get(user.id)).first_name == "A"

    run(scenario)


def test_an_async_unit_of_work_stores_all_or_nothing(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store)
        ann, bob = User.register(email="ann@example.org"), User.register(email="bob@example.org")
        with pytest.raises(RuntimeError, match="changed my mind"):
            async with AsyncUnitOfWork(store):
                await users.add(ann)
                await users.add(bob)
                raise RuntimeError("changed my mind")
        assert not await users.exists(ann.id)
        assert len(ann.pending_events) == 1

        taken = User.register(email="taken@example.org")
        await users.add(taken)
        clash = User.register(email="clash@example.org", id=taken.id)
        with pytest.raises(StreamExistsError):
            async with AsyncUnitOfWork(store):
                await users.add(ann)
                await users.add(clash)
        assert not await users.exists(ann.id), "nothing of the failed commit stored"
        assert (ann._version, len(ann.pending_events)) == (0, 1)

        async with AsyncUnitOfWork(store):
            await users.add(ann)
            await users.add(bob)
        assert len(ann.pending_events) == 0
        assert sync_store.stream_version(User.stream_name(bob.id)) == 0

    run(scenario)


def test_a_sync_unit_of_work_cannot_hold_async_adds(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store)
        with UnitOfWork(store), pytest.raises(TypeError, match="AsyncUnitOfWork"):  # type: ignore[arg-type]
            await users.add(User.register(email="mixed@example.org"))

    run(scenario)


def test_tasks_on_shared_streams_lose_nothing(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store, snapshot_threshold=0)
        ids = []
        for n in range(5):
            user = User.register(email=f"{n}@example.org")
            await users.add(user)
            ids.append(user.id)
        stored: list[str] = []

        async def rename(worker: int) -> None:
            for attempt in range(20):
                user = await users.get(ids[(worker + attempt) % 5])
                name = f"w{worker}a{attempt}"
                user.rename(first_name=name)
                try:
                    await users.add(user)
                except ExpectedVersionError:
                    continue
                stored.append(name)

        await asyncio.gather(*(rename(worker) for worker in range(20)))
        versions = [sync_store.stream_version(User.stream_name(i)) for i in ids]
        assert sum(versions) == len(stored), "every stored rename exactly once"
        for user_id in ids:
            positions = [m.position for m in sync_store.read(User.stream_name(user_id))]
            assert positions == list(range(len(positions))), "no gaps"

    run(scenario)


@pytest.mark.parametrize("awaited", [False, True], ids=["plain-command", "async-command"])
def test_update_with_retry_async_reapplies_the_command_on_a_fresh_aggregate(
    run: Callable[[Scenario], None], awaited: bool
) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store)
        user = User.register(email="retry@example.org", first_name="A")
        await users.add(user)
        calls = 0

        def rename_and_interfere(target: User) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:  # someone else writes between our get and our add
                other = UserRepository(sync_store).get(user.id)
                other.rename(first_name="Other")
                UserRepository(sync_store).add(other)
            target.rename(first_name=f"{target.first_name}+B")

        async def rename_later(target: User) -> None:
            await asyncio.sleep(0)
            rename_and_interfere(target)

        command = rename_later if awaited else rename_and_interfere
        stored = await update_with_retry_async(users, user.id, command)

        assert calls == 2
        assert stored.first_name == "Other+B"
        assert (await users.get(user.id))._version == 2

    run(scenario)


def test_update_with_retry_async_gives_up_and_refuses_what_the_sync_one_refuses(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store)
        user = User.register(email="give-up@example.org")
        await users.add(user)

        def always_interfere(target: User) -> None:
            other = UserRepository(sync_store).get(user.id)
            other.rename(first_name="Other")
            UserRepository(sync_store).add(other)
            target.rename(first_name="Mine")

        with pytest.raises(ExpectedVersionError):
            await update_with_retry_async(users, user.id, always_interfere, attempts=3)
        assert (await users.get(user.id))._version == 3
        with pytest.raises(ValueError, match="attempts"):
            await update_with_retry_async(users, user.id, always_interfere, attempts=0)
        with pytest.raises(RuntimeError, match="UnitOfWork"):
            async with AsyncUnitOfWork(store):
                await update_with_retry_async(users, user.id, always_interfere)
        assert (await users.get(user.id))._version == 3

    run(scenario)


def test_with_update_with_retry_async_every_concurrent_command_succeeds(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncRepository(User, store, snapshot_threshold=0)
        ids = []
        for n in range(3):
            user = User.register(email=f"{n}@example.org", first_name="")
            await users.add(user)
            ids.append(user.id)

        async def work(worker: int) -> None:
            for n in range(10):
                await update_with_retry_async(
                    users,
                    ids[n % 3],
                    lambda user: user.rename(first_name=f"{user.first_name}{worker}"[-40:]),
                    attempts=100,
                )

        await asyncio.gather(*(work(worker) for worker in range(12)))
        assert sum(sync_store.stream_version(User.stream_name(i)) for i in ids) == 12 * 10

    run(scenario)


def test_the_generated_async_repository_gets_the_hand_written_class(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(store: AsyncEventStore, sync_store: EventStore) -> None:
        users = AsyncUserRepository(store)
        user = User.register(email="generated@example.org", first_name="G")
        await users.add(user)
        loaded = await users.get(user.id)
        assert type(loaded) is User
        assert state(loaded) == state(UserRepository(sync_store).get(user.id))
        assert users.snapshot_threshold() == UserRepository(sync_store).snapshot_threshold()

    run(scenario)
