"""Reads from a streaming replica: consumers read there, `get` when asked, writes never.

A private primary with MessageDB and its streaming replica (`pg_basebackup -R`), each
on its own port, serve the module; the shared server is never touched. To prove
where a read went, the replica's WAL replay is paused (`pg_wal_replay_pause()`):
whatever is written on the primary afterwards is missing from the replica, so a
read that misses it was served by the replica, and one that sees it by the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from aggregen.runtime import (
    AsyncConsumer,
    AsyncMessageDBEventStore,
    AsyncRepository,
    ConfigurationError,
    Consumer,
    ConsumerGroup,
    EventStoreError,
    ExpectedVersionError,
    InMemoryEventStore,
    MessageDBEventStore,
    NewMessage,
    PositionStore,
    Projector,
    RecordedMessage,
    Repository,
    Session,
    SQLiteProjectionTarget,
    StreamWrite,
    connect,
    connect_async,
    update_with_retry,
    update_with_retry_async,
)
from tests.domain import User
from tests.private_postgres import PrivateCluster, private_replica
from tests.test_runtime_surface import assert_hidden

__all__ = ["private_replica"]  # the module fixture, used by name below

pytestmark = pytest.mark.messagedb


class Replica:
    """The replica's WAL replay, paused and resumed by the tests."""

    def __init__(self, primary: PrivateCluster, replica: PrivateCluster) -> None:
        self.primary_uri = primary.uri
        self.uri = replica.uri

    def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary wrote so far."""
        with psycopg.connect(self.primary_uri, autocommit=True) as conn:
            (lsn,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone() or (None,)
        self._wait("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Caught up, then replay paused: writes on the primary meanwhile miss the replica."""
        self.caught_up()
        with psycopg.connect(self.uri, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        self._wait("SELECT pg_get_wal_replay_pause_state() = 'paused'", ())
        try:
            yield
        finally:
            with psycopg.connect(self.uri, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")

    def _wait(self, query: str, params: tuple[Any, ...]) -> None:
        deadline = time.monotonic() + 60
        with psycopg.connect(self.uri, autocommit=True) as conn:
            while not (conn.execute(query, params).fetchone() or (False,))[0]:
                assert time.monotonic() < deadline, f"the replica never answered {query!r}"
                time.sleep(0.02)


@pytest.fixture(scope="module")
def replica(private_replica: tuple[PrivateCluster, PrivateCluster]) -> Replica:
    return Replica(*private_replica)


def events(category: str, count: int) -> list[StreamWrite]:
    """One write of `count` events to a fresh stream of `category`."""
    stream = f"{category}-{uuid.uuid4().hex[:8]}"
    return [
        StreamWrite(stream, None, [NewMessage(str(uuid.uuid4()), "Noted", {"n": n}, None)])
        for n in range(count)
    ]


class Seen:
    """A handler that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[RecordedMessage] = []

    def handle(self, message: RecordedMessage) -> None:
        self.messages.append(message)


class SeenInTransaction(Seen):
    """`Seen` as a projection."""

    def handle(self, message: RecordedMessage, session: Session) -> None:  # type: ignore[override]
        self.messages.append(message)


class AsyncSeen(Seen):
    """`Seen` for an async consumer."""

    async def handle(self, message: RecordedMessage) -> None:  # type: ignore[override]
        self.messages.append(message)


def test_a_consumer_reads_the_replica_and_keeps_its_position_on_the_primary(
    replica: Replica,
) -> None:
    category = f"note{uuid.uuid4().hex[:8]}"
    seen = Seen()
    with MessageDBEventStore(replica.primary_uri, read_uri=replica.uri) as store:
        consumer = Consumer(store, category, seen, name="replica-reader")
        store.append(events(category, 3))
        with replica.paused():
            store.append(events(category, 2))  # on the primary only, for now
            assert len(store.read_category(category)) == 3  # served by the replica
            member = ConsumerGroup(0, 1)  # one member: every stream, by the member's query
            assert len(store.read_category(category, consumer_group=member)) == 3
            assert consumer.catch_up() == 3
            # The position was written to, and is read back from, the primary: the
            # paused replica lacks it, and a restarted consumer must not go back.
            recorded = PositionStore(store, category, "replica-reader").get()
            assert recorded == seen.messages[-1].global_position
            replica_view = store.replica_reads()
            assert replica_view.read_last(consumer.positions.stream_name) is None
        replica.caught_up()
        assert consumer.catch_up() == 2
    assert [m.data["n"] for m in seen.messages] == [0, 1, 2, 0, 1]


def test_an_async_consumer_reads_the_replica_too(replica: Replica) -> None:
    category = f"note{uuid.uuid4().hex[:8]}"
    seen = AsyncSeen()

    async def main() -> None:
        async with AsyncMessageDBEventStore(replica.primary_uri, read_uri=replica.uri) as store:
            consumer = AsyncConsumer(store, category, seen, name="replica-reader")
            await store.append(events(category, 3))
            with replica.paused():
                await store.append(events(category, 2))
                member = ConsumerGroup(0, 1)
                assert len(await store.read_category(category, consumer_group=member)) == 3
                assert await consumer.catch_up() == 3
                positions = consumer.positions.stream_name
                assert await store.read_last(positions) is not None  # the primary's
                assert await store.replica_reads().read_last(positions) is None
            replica.caught_up()
            assert await consumer.catch_up() == 2

    asyncio.run(main())
    assert len(seen.messages) == 5


def test_a_projector_reads_the_replica(replica: Replica) -> None:
    category = f"note{uuid.uuid4().hex[:8]}"
    seen = SeenInTransaction()
    with MessageDBEventStore(replica.primary_uri, read_uri=replica.uri) as store:
        projector = Projector(store, category, seen, SQLiteProjectionTarget(), name="notes")
        store.append(events(category, 3))
        with replica.paused():
            store.append(events(category, 2))
            assert projector.catch_up() == 3
        replica.caught_up()
        assert projector.catch_up() == 2


def test_get_reads_the_replica_only_when_asked_and_a_stale_write_fails_safely(
    replica: Replica,
) -> None:
    store = connect(replica.primary_uri, read_uri=replica.uri)
    with contextlib.closing(store):
        users = Repository(User, store, snapshot_threshold=0)
        user = User.register(email="ann@example.org", first_name="Ann")
        users.add(user)
        with replica.paused():
            update_with_retry(users, user.id, lambda u: u.rename(first_name="Anna"))
            assert users.get(user.id).first_name == "Anna"  # the primary, by default
            stale = users.get(user.id, from_replica=True)
            assert (stale.first_name, stale._version) == ("Ann", 0)
            assert [e.type_name() for e in users.history(user.id, from_replica=True)] == [
                "Registered"
            ]
            stale.rename(first_name="Annie")
            with pytest.raises(ExpectedVersionError) as conflict:
                users.add(stale)
            assert (conflict.value.expected_version, conflict.value.actual_version) == (0, 1)
            # A retry reads the replica first, loses, then reads the primary and wins.
            seen_versions: list[int] = []

            def rename(u: User) -> None:
                seen_versions.append(u._version)
                u.rename(first_name="Annie")

            update_with_retry(users, user.id, rename, from_replica=True)
            assert seen_versions == [0, 1]
        assert users.get(user.id).first_name == "Annie"
        replica.caught_up()
        assert users.get(user.id, from_replica=True).first_name == "Annie"


def test_an_async_get_reads_the_replica_only_when_asked(replica: Replica) -> None:
    async def main() -> None:
        store = connect_async(replica.primary_uri, read_uri=replica.uri)
        try:
            users = AsyncRepository(User, store, snapshot_threshold=2)
            user = User.register(email="bo@example.org", first_name="Bo")
            user.rename(first_name="Bob")
            await users.add(user)  # a snapshot at version 1, read from the replica too
            with replica.paused():
                await update_with_retry_async(users, user.id, lambda u: u.rename(first_name="B"))
                assert (await users.get(user.id)).first_name == "B"
                stale = await users.get(user.id, from_replica=True)
                assert (stale.first_name, stale._version) == ("Bob", 1)
                stale.rename(first_name="Bobby")
                with pytest.raises(ExpectedVersionError):
                    await users.add(stale)
                versions: list[int] = []

                def rename(u: User) -> None:
                    versions.append(u._version)
                    u.rename(first_name="Bobby")

                await update_with_retry_async(users, user.id, rename, from_replica=True)
                assert versions == [1, 2]
                assert await users.exists(user.id)
                assert not await users.exists(str(uuid.uuid4()), from_replica=True)
                with pytest.raises(EventStoreError, match="append through the store"):
                    await store.replica_reads().append(events("note", 1))  # type: ignore[attr-defined]
        finally:
            await store.close()

    asyncio.run(main())


def test_the_replica_view_refuses_writes(replica: Replica) -> None:
    with MessageDBEventStore(replica.primary_uri, read_uri=replica.uri) as store:
        view = store.replica_reads()
        with pytest.raises(EventStoreError, match="append through the store"):
            view.append(events("note", 1))
        view.close()  # the view owns no connections: the store still works
        store.append(events("note", 1))


def test_without_a_read_uri_every_read_goes_to_the_primary(replica: Replica) -> None:
    category = f"note{uuid.uuid4().hex[:8]}"
    with MessageDBEventStore(replica.primary_uri) as store, replica.paused():
        store.append(events(category, 2))
        assert len(store.read_category(category)) == 2
        assert len(store.replica_reads().read_category(category)) == 2


@pytest.mark.parametrize("opener", ["sync", "async", "connect", "connect_async"])
def test_no_password_of_either_uri_shows_when_the_replica_is_out_of_reach(opener: str) -> None:
    primary = "postgresql://bob:pr1mary-S3cret@127.0.0.1:1/nowhere"
    read_uri = "postgresql://alice:r3plica-S3cret@127.0.0.1:1/nowhere"
    category = "note"

    async def read_async() -> None:
        store: Any = (
            AsyncMessageDBEventStore(primary, read_uri=read_uri, timeout=1.5)
            if opener == "async"
            else connect_async(primary, read_uri=read_uri, timeout=1.5)
        )
        async with store:
            await store.read_category(category)

    with pytest.raises(EventStoreError) as caught:
        if opener in ("async", "connect_async"):
            asyncio.run(read_async())
        else:
            store: Any = (
                MessageDBEventStore(primary, read_uri=read_uri, timeout=1.5)
                if opener == "sync"
                else connect(primary, read_uri=read_uri, timeout=1.5)
            )
            with store:
                store.read_category(category)
    assert "port 1" in str(caught.value)
    assert_hidden(caught.value, "pr1mary-S3cret", "r3plica-S3cret")


@pytest.mark.parametrize("opener", ["sync", "async", "connect", "connect_async"])
def test_a_read_uri_that_cannot_be_read_is_refused_without_either_password(opener: str) -> None:
    primary = "postgresql://bob:pr1mary-S3cret@127.0.0.1:1/nowhere"
    read_uri = "postgresql://alice:r3pl%zzica@127.0.0.1:1/nowhere"
    openers: dict[str, Any] = {
        "sync": MessageDBEventStore,
        "async": AsyncMessageDBEventStore,
        "connect": connect,
        "connect_async": connect_async,
    }
    with pytest.raises(ConfigurationError, match="invalid read URI") as caught:
        openers[opener](primary, read_uri=read_uri)
    assert_hidden(caught.value, "pr1mary-S3cret", "r3pl%zzica", "%zzica")


def test_connect_reads_the_replica_from_the_environment_with_the_store(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    category = f"note{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", replica.primary_uri)
    monkeypatch.setenv("AGGREGEN_EVENT_STORE_READ_URI", replica.uri)
    with contextlib.closing(connect()) as store, replica.paused():
        store.append(events(category, 2))
        assert store.read_category(category) == []  # the replica's, paused before the write
        # A URI given in code never takes the variable's replica.
        with contextlib.closing(connect(replica.primary_uri)) as primary_only:
            assert len(primary_only.read_category(category)) == 2


def test_a_store_without_a_replica_serves_reads_asked_of_the_replica_itself() -> None:
    store = InMemoryEventStore()
    users = Repository(User, store)
    user = User.register(email="cy@example.org", first_name="Cy")
    users.add(user)
    assert users.get(user.id, from_replica=True).first_name == "Cy"
    assert users.exists(user.id, from_replica=True)
    assert len(users.history(user.id, from_replica=True)) == 1
    update_with_retry(users, user.id, lambda u: u.rename(first_name="Cyd"), from_replica=True)
    assert users.get(user.id).first_name == "Cyd"
