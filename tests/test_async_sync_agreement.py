"""Sync against async: one random sequence of commands through `Repository` on a sync
store and through `AsyncRepository` on the async twin of that store must give the
same outcomes (aggregates, errors included) and the same stored messages.

The commands register, rename (freshly loaded or with an aggregate loaded some steps
before, which may be stale), commit several renames in one unit of work (or abort
it), get (at a version or the latest), read the history and ask whether aggregates
exist. One interpreter runs both sides: the sync side's repository is wrapped in
awaitable methods, so the two cannot be driven differently. Ids differ between the
sides (both MessageDB sides share a database) and are compared by their order of
appearance; so are event ids. Global positions and times are left out.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.runtime import (
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncRepository,
    AsyncUnitOfWork,
    EventStore,
    InMemoryEventStore,
    MessageDBEventStore,
    Repository,
    UnitOfWork,
)
from tests.async_support import EventLoopThread
from tests.domain import User

AGGREGATES = 3
THRESHOLD = 3


class AgreeUser(User):
    __category__: ClassVar[str] = "asyncAgree"


# --- commands ----------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    index: int
    email: str


@dataclass(frozen=True)
class Rename:
    index: int
    name: str
    stale: bool
    """Rename the aggregate that the last `Get` of `index` loaded, not a fresh one."""


@dataclass(frozen=True)
class Unit:
    renames: tuple[tuple[int, str], ...]
    abort: bool


@dataclass(frozen=True)
class Get:
    index: int
    version: int | None


@dataclass(frozen=True)
class History:
    index: int


@dataclass(frozen=True)
class Exists:
    index: int


Command = Register | Rename | Unit | Get | History | Exists

indices = st.integers(0, AGGREGATES - 1)
names = st.text(st.characters(codec="utf-8"), max_size=8) | st.text(min_size=51, max_size=53)
"""Names of over 50 characters are refused by the command (`ValidationError`)."""
commands = st.lists(
    st.one_of(
        st.builds(Register, indices, st.sampled_from(["a@x.org", "b@x.org"])),
        st.builds(Rename, indices, names, st.booleans()),
        st.builds(
            Unit,
            st.lists(st.tuples(indices, names), min_size=1, max_size=3).map(tuple),
            st.booleans(),
        ),
        st.builds(Get, indices, st.none() | st.integers(0, 8)),
        st.builds(History, indices),
        st.builds(Exists, indices),
    ),
    min_size=1,
    max_size=25,
)


# --- one interpreter, two faces ---------------------------------------------------------


class Side(Protocol):
    """What the interpreter needs of a repository, awaited on both sides."""

    async def add(self, user: AgreeUser) -> None: ...
    async def get(self, user_id: str, version: int | None) -> AgreeUser: ...
    async def history(self, user_id: str) -> list[Any]: ...
    async def exists(self, user_id: str) -> bool: ...
    def unit(self) -> contextlib.AbstractAsyncContextManager[object]: ...
    async def stored(self, stream: str) -> list[Any]: ...


class SyncSide:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.users = Repository(AgreeUser, store, snapshot_threshold=THRESHOLD)

    async def add(self, user: AgreeUser) -> None:
        self.users.add(user)

    async def get(self, user_id: str, version: int | None) -> AgreeUser:
        return self.users.get(user_id, version=version)

    async def history(self, user_id: str) -> list[Any]:
        return self.users.history(user_id)

    async def exists(self, user_id: str) -> bool:
        return self.users.exists(user_id)

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[object]:
        with UnitOfWork(self.store) as unit:
            yield unit

    async def stored(self, stream: str) -> list[Any]:
        return list(self.store.read(stream))


class AsyncSide:
    def __init__(self, store: AsyncEventStore) -> None:
        self.store = store
        self.users = AsyncRepository(AgreeUser, store, snapshot_threshold=THRESHOLD)

    async def add(self, user: AgreeUser) -> None:
        await self.users.add(user)

    async def get(self, user_id: str, version: int | None) -> AgreeUser:
        return await self.users.get(user_id, version=version)

    async def history(self, user_id: str) -> list[Any]:
        return await self.users.history(user_id)

    async def exists(self, user_id: str) -> bool:
        return await self.users.exists(user_id)

    def unit(self) -> contextlib.AbstractAsyncContextManager[object]:
        return AsyncUnitOfWork(self.store)

    async def stored(self, stream: str) -> list[Any]:
        return [message async for message in self.store.read(stream)]


class Aborted(Exception):
    """Raised inside a unit of work that a command aborts."""


def state(user: AgreeUser) -> dict[str, Any]:
    return {k: v for k, v in vars(user).items() if k not in ("_pending", "_stream")}


async def interpret(side: Side, sequence: list[Command]) -> tuple[list[Any], list[Any]]:
    """Run `sequence` on `side`: each command's outcome, then every stream's messages."""
    ids = [str(uuid.uuid4()) for _ in range(AGGREGATES)]
    kept: dict[int, AgreeUser] = {}
    """The aggregate each index's last `Get` loaded: it may be stale when renamed."""

    async def step(command: Command) -> object:
        match command:
            case Register(index, email):
                user = AgreeUser.register(email=email, id=ids[index])
                await side.add(user)
                return state(user)
            case Rename(index, name, stale):
                if stale and index in kept:
                    user = kept[index]
                else:
                    user = await side.get(ids[index], None)
                user.rename(first_name=name)
                await side.add(user)
                return state(user)
            case Unit(renames, abort):
                users = [(await side.get(ids[index], None), name) for index, name in renames]
                async with side.unit():
                    for user, name in users:
                        user.rename(first_name=name)
                        await side.add(user)
                    if abort:
                        raise Aborted
                return [state(user) for user, _ in users]
            case Get(index, version):
                user = await side.get(ids[index], version)
                kept[index] = user
                return state(user)
            case History(index):
                return [
                    (
                        event.type_name(),
                        event.to_data(),
                        event.metadata and event.metadata._replace(time=None, global_position=None),
                    )
                    for event in await side.history(ids[index])
                ]
            case Exists(index):
                return await side.exists(ids[index])
        raise AssertionError(command)

    outcomes: list[Any] = []
    # Every aggregate but the last exists from the start; the last one may never.
    start = [Register(index, "start@x.org") for index in range(AGGREGATES - 1)]
    for command in [*start, *sequence]:
        try:
            outcomes.append(("ok", await step(command)))
        except Exception as error:  # every error is an outcome to compare
            # and what a failed command left in the aggregates kept
            left = {i: (state(u), len(u.pending_events)) for i, u in kept.items()}
            outcomes.append(("error", type(error).__name__, str(error), left))
    stored = []
    for user_id in ids:
        for stream in (AgreeUser.stream_name(user_id), f"asyncAgree:snapshot-{user_id}"):
            stored.append(
                [
                    (m.type, m.position, _sorted_json(m.data), _sorted_json(m.metadata))
                    for m in await side.stored(stream)
                ]
            )
    return normalized(outcomes, ids), normalized(stored, ids)


def _sorted_json(value: object) -> str:
    """JSON with sorted keys: MessageDB's jsonb reorders keys, the other stores do not."""
    return json.dumps(value, sort_keys=True)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalized(value: Any, ids: list[str]) -> Any:
    """`value` with every UUID in its text (and repr of its objects) replaced by its
    order of appearance, the aggregates' ids first."""
    seen = {user_id: f"<id{n}>" for n, user_id in enumerate(ids)}

    def name(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(0), f"<id{len(seen)}>")

    return _UUID.sub(name, repr(value))


# --- the test ---------------------------------------------------------------------------

Pair = tuple[EventStore, AsyncEventStore]


def run_both(loop: EventLoopThread, pair: Pair, sequence: list[Command]) -> None:
    sync_outcome = loop.run(interpret(SyncSide(pair[0]), sequence))
    async_outcome = loop.run(interpret(AsyncSide(pair[1]), sequence))
    assert async_outcome[0] == sync_outcome[0], "outcomes differ"
    assert async_outcome[1] == sync_outcome[1], "stored messages differ"


@pytest.mark.parametrize(
    "stores",
    ["memory", "messagedb", pytest.param("messagedb-jetstream", marks=pytest.mark.jetstream)],
)
def test_the_sync_and_async_repositories_agree_on_every_sequence(
    stores: str,
    event_loop_thread: EventLoopThread,
    messagedb_store: MessageDBEventStore,
    async_messagedb_store: AsyncMessageDBEventStore,
    request: pytest.FixtureRequest,
) -> None:
    """`messagedb-jetstream`: sync MessageDB against async JetStream, so the JetStream
    store is held to MessageDB's outcomes (its own sync face wraps its async one)."""
    async_store: AsyncEventStore = async_messagedb_store
    if stores == "messagedb-jetstream":
        async_store = request.getfixturevalue("async_jetstream_store")

    @settings(
        max_examples=60 if stores == "memory" else 25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(sequence=commands)
    def agree(sequence: list[Command]) -> None:
        if stores == "memory":
            pair: Pair = (InMemoryEventStore(), AsyncInMemoryEventStore())
        else:
            pair = (messagedb_store, async_store)
        run_both(event_loop_thread, pair, sequence)

    agree()
