"""Exactly-once projections on PostgreSQL and on the SQLite stand-in, read from the four stores.

On the async stores the projector is an `AsyncProjector` with the async target on
the same database (through `projector_for`), so the same assertions hold for both
faces of the projector.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aggregen.runtime import (
    AsyncPostgresProjectionTarget,
    AsyncProjectionTarget,
    AsyncProjector,
    AsyncSQLiteProjectionTarget,
    ConsumerError,
    ConsumerGroup,
    EventStore,
    NewMessage,
    PostgresProjectionTarget,
    ProjectionTarget,
    Projector,
    SQLiteProjectionTarget,
    StreamNameError,
    StreamWrite,
)
from aggregen.runtime.projection_postgres import POSITIONS_TABLE
from tests.async_support import EventLoopThread, SyncFacade, SyncLoopFacade
from tests.projection_support import AsyncTally, Tally, app_database_uri


def new_category() -> str:
    return "proj" + uuid.uuid4().hex[:12]


def fill(store: EventStore, category: str, streams: int, per_stream: int) -> None:
    for n in range(per_stream):
        store.append(
            [
                StreamWrite(
                    f"{category}-{s}",
                    None,
                    [NewMessage(str(uuid.uuid4()), "Ticked", {"n": n * streams + s}, None)],
                )
                for s in range(streams)
            ]
        )


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    """Every test runs on the four stores; on the async ones with `AsyncProjector`."""
    return any_store


@pytest.fixture
def projector_for(event_loop_thread: EventLoopThread) -> Iterator[Callable[..., Any]]:
    """Makes the projector of a store's face: a `Projector`, or on a `SyncFacade` an
    `AsyncProjector` with the async target on the sync target's database."""
    made: list[AsyncPostgresProjectionTarget] = []

    def make(
        store: EventStore, category: str, tally: Tally, target: ProjectionTarget, **options: Any
    ) -> Any:
        if not isinstance(store, SyncFacade):
            return Projector(store, category, tally, target, **options)
        async_target: AsyncProjectionTarget
        if isinstance(target, SQLiteProjectionTarget):
            async_target = AsyncSQLiteProjectionTarget(sync=target)
        else:
            assert isinstance(target, PostgresProjectionTarget)
            async_target = AsyncPostgresProjectionTarget(target._uri)
            made.append(async_target)
        projector = AsyncProjector(
            store.inner, category, AsyncTally(tally), async_target, **options
        )
        return SyncLoopFacade(projector, store.loop)

    yield make
    for target in made:
        event_loop_thread.run(target.close())


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest) -> Iterator[ProjectionTarget]:
    """Each projection test runs on the SQLite stand-in and on a real PostgreSQL database."""
    made: ProjectionTarget
    if request.param == "sqlite":
        made = SQLiteProjectionTarget()
    else:
        made = PostgresProjectionTarget(app_database_uri(request.getfixturevalue("messagedb_uri")))
    try:
        yield made
    finally:
        made.close()


def tally_for(target: ProjectionTarget, fail_at: int | None = None) -> Tally:
    tally = Tally(fail_at=fail_at)
    with target.session() as session:
        tally.create_tables(session)
    return tally


def model(target: ProjectionTarget, tally: Tally) -> tuple[list[Any], list[Any]]:
    with target.session() as session:
        return tally.model(session)


def test_a_projection_applies_each_message_once_and_commits_its_position(
    store: EventStore, target: ProjectionTarget, projector_for: Callable[..., Any]
) -> None:
    category = new_category()
    fill(store, category, streams=3, per_stream=4)
    tally = tally_for(target)
    projector = projector_for(
        store, category, tally, target, name=f"tally-{tally.suffix}", batch_size=5
    )

    assert projector.catch_up() == 12
    assert projector.catch_up() == 0
    fill(store, category, streams=2, per_stream=1)
    assert projector.catch_up() == 2

    seen, totals = model(target, tally)
    assert len(seen) == 14
    assert totals == [(f"{category}-0", 5), (f"{category}-1", 5), (f"{category}-2", 4)]
    assert projector.position == store.read_category(category)[-1].global_position


def test_a_failing_projection_rolls_back_its_batch_and_resumes_there(
    store: EventStore, target: ProjectionTarget, projector_for: Callable[..., Any]
) -> None:
    category = new_category()
    fill(store, category, streams=1, per_stream=10)
    failing = tally_for(target, fail_at=6)
    name = f"tally-{failing.suffix}"

    with pytest.raises(ConsumerError) as caught:
        projector_for(store, category, failing, target, name=name, batch_size=4).catch_up()

    assert caught.value.position == 6
    assert "refused on purpose" in str(caught.value)
    seen, _ = model(target, failing)
    assert [position for _, position in seen] == [0, 1, 2, 3], "the failed batch left nothing"
    failing.fail_at = None
    assert projector_for(store, category, failing, target, name=name, batch_size=4).catch_up() == 6
    seen, totals = model(target, failing)
    assert [position for _, position in seen] == list(range(10))
    assert totals == [(f"{category}-0", 10)]


def test_group_members_project_disjoint_streams(
    store: EventStore, target: ProjectionTarget, projector_for: Callable[..., Any]
) -> None:
    category = new_category()
    fill(store, category, streams=9, per_stream=3)
    tally = tally_for(target)
    for member in range(3):
        projector_for(
            store,
            category,
            tally,
            target,
            name=f"tally-{tally.suffix}",
            consumer_group=ConsumerGroup(member, 3),
        ).catch_up()
    seen, totals = model(target, tally)
    assert len(seen) == 27
    assert all(count == 3 for _, count in totals)
    assert target.position(f"{category}:position-tally-{tally.suffix}+2of3") is not None


@pytest.mark.messagedb
def test_two_instances_of_one_projection_never_apply_a_message_twice(
    messagedb_store: EventStore, messagedb_uri: str
) -> None:
    category = new_category()
    fill(messagedb_store, category, streams=5, per_stream=40)
    uri = app_database_uri(messagedb_uri)
    setup = PostgresProjectionTarget(uri)
    tally = tally_for(setup)
    failures: list[BaseException] = []

    def project() -> None:
        target = PostgresProjectionTarget(uri)
        try:
            Projector(
                messagedb_store, category, tally, target, name=f"tally-{tally.suffix}", batch_size=7
            ).catch_up()
        except BaseException as error:  # reported by the test below
            failures.append(error)
        finally:
            target.close()

    threads = [threading.Thread(target=project) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert failures == []
    seen, totals = model(setup, tally)
    assert len(seen) == 200
    assert all(count == 40 for _, count in totals)
    setup.close()


@pytest.mark.messagedb
def test_the_positions_table_is_created_when_missing_and_a_schema_may_be_named(
    messagedb_uri: str,
) -> None:
    import psycopg

    uri = app_database_uri(messagedb_uri)
    schema = "s" + uuid.uuid4().hex[:10]
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    target = PostgresProjectionTarget(uri, table=f"{schema}.{POSITIONS_TABLE}")
    with target.transaction("p") as transaction:
        transaction.position = 41
    assert target.position("p") == 41
    target.close()
    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute(f"SELECT name, position FROM {schema}.{POSITIONS_TABLE}").fetchone()
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert row == ("p", 41)


def test_two_projections_of_one_name_on_two_categories_keep_their_own_positions(
    store: EventStore, target: ProjectionTarget, projector_for: Callable[..., Any]
) -> None:
    first, second = new_category(), new_category()
    fill(store, first, streams=2, per_stream=3)
    fill(store, second, streams=3, per_stream=2)
    tally_first, tally_second = tally_for(target), tally_for(target)

    assert projector_for(store, first, tally_first, target, name="main").catch_up() == 6
    assert projector_for(store, second, tally_second, target, name="main").catch_up() == 6

    assert len(model(target, tally_second)[0]) == 6, "the second category was read whole"
    assert target.position(f"{first}:position-main") != target.position(f"{second}:position-main")


@pytest.mark.parametrize("name", ["", "a+1of2", "two words"])
def test_a_projection_name_must_be_usable(
    store: EventStore, name: str, projector_for: Callable[..., Any]
) -> None:
    with pytest.raises(StreamNameError):
        projector_for(store, "orders", Tally(), SQLiteProjectionTarget(), name=name)


def test_the_sqlite_stand_in_binds_what_postgresql_binds() -> None:
    target = SQLiteProjectionTarget()
    amount, key, when = decimal.Decimal("1.50"), uuid.uuid4(), datetime.date(2026, 11, 30)
    with target.session() as session:
        session.execute("CREATE TABLE t (amount text, key text, day text)")
        session.execute("INSERT INTO t VALUES (%s, %s, %s)", (amount, key, when))
        session.execute(
            "INSERT INTO t VALUES (%(amount)s, %(key)s, %(day)s)",
            {"amount": amount, "key": key, "day": when},
        )
        rows = session.execute("SELECT amount, key, day FROM t").fetchall()
    assert rows == [("1.50", str(key), "2026-11-30")] * 2
