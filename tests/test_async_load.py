"""Load on the async stores: 200 tasks on 20 shared streams, on MessageDB and in memory.

Half the tasks rename one user at a time (get, change, add, again on
`ExpectedVersionError`); the other half rename two users of two categories in one
`AsyncUnitOfWork`. Every command is retried until it is stored, so every one is
acknowledged; afterwards every stream's positions run 0..n without a gap and hold
exactly the acknowledged renames, each once, a unit's two renames together.

The same again with 30% of the commands cut off by `asyncio.timeout` at random
moments: each cut-off command is stored whole or not at all, and the pool is left
with no connection in use and none more than the server has.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar

import psycopg
import pytest

from aggregen.runtime import (
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncRepository,
    AsyncUnitOfWork,
    ExpectedVersionError,
)
from tests.async_support import assert_pool_healthy, run, settle, tagged
from tests.domain import User

TASKS = 200
STREAMS = 20  # half in each category
COMMANDS_PER_TASK = 1
ATTEMPTS = 500


class LoadUser(User):
    __category__: ClassVar[str] = "asyncLoadAlpha"


class OtherLoadUser(User):
    __category__: ClassVar[str] = "asyncLoadZeta"


class Workload:
    """The streams, the repositories and what each task was told was stored.

    With `cancel_share` above 0, that share of the commands run under an
    `asyncio.timeout` of up to 30 ms: a command cut off is stored whole or not at all.
    """

    def __init__(self, store: AsyncEventStore, cancel_share: float = 0.0) -> None:
        self.store = store
        self.cancel_share = cancel_share
        self.users = AsyncRepository(LoadUser, store, snapshot_threshold=7)
        self.others = AsyncRepository(OtherLoadUser, store, snapshot_threshold=7)
        self.ids = [str(uuid.uuid4()) for _ in range(STREAMS // 2)]
        self.other_ids = [str(uuid.uuid4()) for _ in range(STREAMS // 2)]
        self.acknowledged: dict[str, tuple[str, ...]] = {}
        """The streams of each command whose add or commit returned, by name."""
        self.cut_off: dict[str, tuple[str, ...]] = {}
        """The streams of each command that a timeout cancelled, by name."""
        self.conflicts = 0
        self.cut_off_stored = 0

    async def seed(self) -> None:
        for user_id in self.ids:
            await self.users.add(LoadUser.register(email="load@example.org", id=user_id))
        for user_id in self.other_ids:
            await self.others.add(OtherLoadUser.register(email="load@example.org", id=user_id))

    async def retried(
        self, name: str, streams: tuple[str, ...], command: Callable[[], Awaitable[None]]
    ) -> None:
        for _ in range(ATTEMPTS):
            try:
                await command()
            except ExpectedVersionError:
                self.conflicts += 1
                await asyncio.sleep(random.uniform(0, 0.002))
            else:
                self.acknowledged[name] = streams
                return
        pytest.fail("a command lost every attempt")

    async def rename_one(self, name: str, user_id: str) -> None:
        user = await self.users.get(user_id)
        user.rename(first_name=name)
        await asyncio.sleep(0)  # let the other tasks in between get and add
        await self.users.add(user)

    async def rename_two(self, name: str, user_id: str, other_id: str) -> None:
        user, other = await self.users.get(user_id), await self.others.get(other_id)
        user.rename(first_name=name)
        other.rename(first_name=name)
        await asyncio.sleep(0)
        async with AsyncUnitOfWork(self.store):
            # One order here, the other in the next unit: the store orders categories.
            pair = [(self.others, other), (self.users, user)]
            for repository, aggregate in pair if len(name) % 2 else reversed(pair):
                await repository.add(aggregate)  # type: ignore[attr-defined]

    async def task(self, number: int) -> None:
        chooser = random.Random(number)
        for command in range(COMMANDS_PER_TASK):
            name = f"t{number}-c{command}"
            user_id = chooser.choice(self.ids)
            if number % 2:
                streams: tuple[str, ...] = (LoadUser.stream_name(user_id),)
                run = partial(self.rename_one, name, user_id)
            else:
                other_id = chooser.choice(self.other_ids)
                streams = (LoadUser.stream_name(user_id), OtherLoadUser.stream_name(other_id))
                run = partial(self.rename_two, name, user_id, other_id)
            if chooser.random() >= self.cancel_share:
                await self.retried(name, streams, run)
                continue
            try:
                async with asyncio.timeout(chooser.uniform(0, 0.03)):
                    await self.retried(name, streams, run)
            except TimeoutError:
                self.cut_off[name] = streams

    async def check(self) -> None:
        """Positions 0..n in every stream; each acknowledged command stored once in each
        of its streams, each cut-off one the same or not at all, and nothing else."""
        found: dict[str, list[str]] = {}
        for stream in [
            *map(LoadUser.stream_name, self.ids),
            *map(OtherLoadUser.stream_name, self.other_ids),
        ]:
            messages = [m async for m in self.store.read(stream)]
            assert [m.position for m in messages] == list(range(len(messages))), "a gap"
            assert [m.type for m in messages[:1]] == ["Registered"]
            for message in messages[1:]:
                found.setdefault(message.data["first_name"], []).append(stream)
        for name, streams in found.items():
            assert sorted(streams) == sorted(self.acknowledged.get(name) or self.cut_off[name])
        assert set(self.acknowledged) <= set(found), "an acknowledged command is missing"
        self.cut_off_stored = len(set(self.cut_off) & set(found))


async def run_load(store: AsyncEventStore, cancel_share: float = 0.0) -> Workload:
    work = Workload(store, cancel_share)
    await work.seed()
    await asyncio.gather(*(work.task(number) for number in range(TASKS)))
    assert len(work.acknowledged) + len(work.cut_off) == TASKS * COMMANDS_PER_TASK
    await work.check()
    return work


@pytest.mark.parametrize("cancel_share", [0.0, 0.3])
def test_200_tasks_on_20_messagedb_streams_lose_and_duplicate_nothing(
    messagedb_uri: str, cancel_share: float
) -> None:
    """Also with 30% of the commands cut off by timeouts: afterwards the pool holds no
    connection in use, the server has exactly the pool's connections, the next
    command works and `close` ends them all."""
    uri, application = tagged(messagedb_uri)

    async def main() -> Workload:
        with psycopg.connect(messagedb_uri, autocommit=True) as admin:
            async with AsyncMessageDBEventStore(uri, max_size=8) as store:
                work = await run_load(store, cancel_share)
                assert_pool_healthy(store)
                await settle(admin, application, store._pool._open)
                user = LoadUser.register(email="next@example.org")
                await work.users.add(user)
                assert (await work.users.get(user.id)).email == "next@example.org"
            await settle(admin, application, 0)
            return work

    work = run(main)
    print(
        f"\nasync load on MessageDB: {TASKS} tasks, {STREAMS} streams, "
        f"{len(work.acknowledged)} commands stored exactly once after {work.conflicts} "
        f"conflicts, {len(work.cut_off)} cut off by timeouts ({work.cut_off_stored} of them "
        "stored all the same, each whole); "
        "0 lost, 0 duplicated, 0 gaps"
    )
    assert work.conflicts > 0, "the workload is meant to collide"
    assert len(work.cut_off) >= TASKS * COMMANDS_PER_TASK * cancel_share / 3


@pytest.mark.parametrize("cancel_share", [0.0, 0.3])
def test_200_tasks_on_20_in_memory_streams_lose_and_duplicate_nothing(
    cancel_share: float,
) -> None:
    work = run(lambda: run_load(AsyncInMemoryEventStore(), cancel_share))
    assert work.conflicts > 0, "the workload is meant to collide"
