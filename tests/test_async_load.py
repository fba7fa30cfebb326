"""Load on the async stores: 200 tasks on 20 shared streams, on MessageDB and in memory.

Half the tasks rename one user at a time (get, change, add, again on
`ExpectedVersionError`); the other half rename two users of two categories in one
`AsyncUnitOfWork`. Every command is retried until it is stored, so every one is
acknowledged; afterwards every stream's positions run 0..n without a gap and hold
exactly the acknowledged renames, each once, a unit's two renames together.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar

import pytest

from aggregen.runtime import (
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncRepository,
    AsyncUnitOfWork,
    ExpectedVersionError,
)
from tests.domain import User

TASKS = 200
STREAMS = 20  # half in each category
COMMANDS_PER_TASK = 3
ATTEMPTS = 500


class LoadUser(User):
    __category__: ClassVar[str] = "asyncLoadAlpha"


class OtherLoadUser(User):
    __category__: ClassVar[str] = "asyncLoadZeta"


class Workload:
    """The streams, the repositories and what each task was told was stored."""

    def __init__(self, store: AsyncEventStore) -> None:
        self.store = store
        self.users = AsyncRepository(LoadUser, store, snapshot_threshold=7)
        self.others = AsyncRepository(OtherLoadUser, store, snapshot_threshold=7)
        self.ids = [str(uuid.uuid4()) for _ in range(STREAMS // 2)]
        self.other_ids = [str(uuid.uuid4()) for _ in range(STREAMS // 2)]
        self.acknowledged: list[tuple[str, ...]] = []
        """(name, stream, ...) of every command whose add or commit returned."""
        self.conflicts = 0

    async def seed(self) -> None:
        for user_id in self.ids:
            await self.users.add(LoadUser.register(email="load@example.org", id=user_id))
        for user_id in self.other_ids:
            await self.others.add(OtherLoadUser.register(email="load@example.org", id=user_id))

    async def retried(self, command: Callable[[], Awaitable[tuple[str, ...]]]) -> None:
        for _ in range(ATTEMPTS):
            try:
                self.acknowledged.append(await command())
                return
            except ExpectedVersionError:
                self.conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.002))
        pytest.fail("a command lost every attempt")

    async def rename_one(self, name: str, user_id: str) -> tuple[str, ...]:
        user = await self.users.get(user_id)
        user.rename(first_name=name)
        await asyncio.sleep(0)  # let the other tasks in between get and add
        await self.users.add(user)
        return (name, LoadUser.stream_name(user_id))

    async def rename_two(self, name: str, user_id: str, other_id: str) -> tuple[str, ...]:
        user, other = await self.users.get(user_id), await self.others.get(other_id)
        user.rename(first_name=name)
        other.rename(first_name=name)
        await asyncio.sleep(0)
        async with AsyncUnitOfWork(self.store):
            # One order here, the other in the next unit: the store orders categories.
            pair = [(self.others, other), (self.users, user)]
            for repository, aggregate in pair if len(name) % 2 else reversed(pair):
                await repository.add(aggregate)  # type: ignore[attr-defined]
        return (name, LoadUser.stream_name(user_id), OtherLoadUser.stream_name(other_id))

    async def task(self, number: int) -> None:
        chooser = random.Random(number)
        for command in range(COMMANDS_PER_TASK):
            name = f"t{number}-c{command}"
            user_id = chooser.choice(self.ids)
            if number % 2:
                await self.retried(partial(self.rename_one, name, user_id))
            else:
                other_id = chooser.choice(self.other_ids)
                await self.retried(partial(self.rename_two, name, user_id, other_id))

    async def stored(self) -> dict[str, list[str]]:
        """Each stream's renames, in order; asserts positions 0..n and the registration."""
        streams: dict[str, list[str]] = {}
        for stream in [
            *map(LoadUser.stream_name, self.ids),
            *map(OtherLoadUser.stream_name, self.other_ids),
        ]:
            messages = [m async for m in self.store.read(stream)]
            assert [m.position for m in messages] == list(range(len(messages))), "a gap"
            assert [m.type for m in messages[:1]] == ["Registered"]
            streams[stream] = [m.data["first_name"] for m in messages[1:]]
        return streams


async def run_load(store: AsyncEventStore) -> Workload:
    work = Workload(store)
    await work.seed()
    await asyncio.gather(*(work.task(number) for number in range(TASKS)))

    assert len(work.acknowledged) == TASKS * COMMANDS_PER_TASK
    streams = await work.stored()
    stored = [(name, stream) for stream, names in streams.items() for name in names]
    twice = [entry for entry, count in Counter(stored).items() if count > 1]
    assert twice == [], "a rename was stored twice"
    expected = [(ack[0], stream) for ack in work.acknowledged for stream in ack[1:]]
    assert sorted(stored) == sorted(expected), "lost, phantom or half-stored commands"
    return work


def test_200_tasks_on_20_messagedb_streams_lose_and_duplicate_nothing(messagedb_uri: str) -> None:
    async def main() -> Workload:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=8) as store:
            work = await run_load(store)
            # Every connection went back to the pool: none in use, none broken.
            pool = store._pool
            assert pool._open == len(pool._idle) <= 8
            assert all(not (conn.closed or conn.broken) for conn in pool._idle)
            return work

    work = asyncio.run(main())
    print(
        f"\nasync load on MessageDB: {TASKS} tasks, {STREAMS} streams, "
        f"{len(work.acknowledged)} commands stored exactly once after {work.conflicts} "
        "conflicts; 0 lost, 0 duplicated, 0 gaps"
    )
    assert work.conflicts > 0, "the workload is meant to collide"


def test_200_tasks_on_20_in_memory_streams_lose_and_duplicate_nothing() -> None:
    work = asyncio.run(run_load(AsyncInMemoryEventStore()))
    assert work.conflicts > 0, "the workload is meant to collide"
