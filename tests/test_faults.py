"""Faults on real PostgreSQL: a backend killed mid-commit, the server stopped and started.

Every test here runs on a private cluster (`tests/private_postgres.py`), never on the
machine's shared PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import ClassVar

import psycopg
import pytest

from aggregen.runtime import EventStoreError, MessageDBEventStore, Repository, UnitOfWork
from tests.domain import User
from tests.private_postgres import PrivateCluster, private_messagedb

__all__ = ["private_messagedb"]  # the session fixture, used by name below


class FirstUser(User):
    __category__: ClassVar[str] = "faultAlpha"


class LastUser(User):
    __category__: ClassVar[str] = "faultZeta"


@pytest.fixture
def messagedb_uri(private_messagedb: PrivateCluster) -> str:
    """The private cluster's MessageDB, in place of the shared one."""
    return private_messagedb.uri


@pytest.fixture
def admin(messagedb_uri: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(messagedb_uri, autocommit=True) as conn:
        conn.execute("SET search_path = message_store, public")
        yield conn


def waiting_writers(admin: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND wait_event = 'advisory' AND query LIKE '%write_message%'"
    ).fetchall()
    return [int(str(row[0])) for row in rows]


def kill_writers(
    admin: psycopg.Connection[tuple[object, ...]], times: int, done: threading.Event
) -> int:
    """Terminate the backend waiting on the category lock, `times` times."""
    killed = 0
    deadline = time.monotonic() + 30
    while killed < times and time.monotonic() < deadline and not done.is_set():
        for pid in waiting_writers(admin):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed += 1
        time.sleep(0.02)
    return killed


@pytest.mark.parametrize("kills", [1, 2])
def test_a_backend_killed_in_the_middle_of_a_commit_stores_all_or_nothing(
    messagedb_uri: str, admin: psycopg.Connection[tuple[object, ...]], kills: int
) -> None:
    store = MessageDBEventStore(messagedb_uri, timeout=5)
    firsts, lasts = Repository(FirstUser, store), Repository(LastUser, store)
    first = [FirstUser.register(email=f"{n}@example.org") for n in range(3)]
    last = LastUser.register(email="last@example.org")
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def commit() -> None:
        try:
            with UnitOfWork(store):
                for user in first:
                    firsts.add(user)
                lasts.add(last)
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)
        finally:
            done.set()

    try:
        with psycopg.connect(messagedb_uri) as blocker:
            blocker.execute("SET search_path = message_store, public")
            blocker.execute("SELECT pg_advisory_xact_lock(hash_64('faultZeta'))")
            writer = threading.Thread(target=commit)
            writer.start()
            killed = kill_writers(admin, kills, done)
            blocker.rollback()  # releases the category lock
        writer.join(timeout=30)
        assert killed == kills
        assert outcome, "the commit never finished"

        stored = [store.stream_version(f"faultAlpha-{u.id}") for u in first]
        stored.append(store.stream_version(f"faultZeta-{last.id}"))
        if outcome[0] is None:  # one kill: the store retried on a fresh connection
            assert kills == 1
            assert stored == [0, 0, 0, 0]
        else:
            assert isinstance(outcome[0], EventStoreError)
            assert stored == [-1, -1, -1, -1], "all or nothing"
            assert all(len(u.pending_events) == 1 for u in [*first, last])

        after = FirstUser.register(email="after@example.org")
        firsts.add(after)
        assert firsts.get(after.id).email == "after@example.org"
    finally:
        store.close()


def test_calls_fail_clearly_while_postgres_is_down_and_work_again_after(
    messagedb_uri: str, private_messagedb: PrivateCluster
) -> None:
    store = MessageDBEventStore(messagedb_uri, timeout=2)
    users = Repository(User, store)
    user = User.register(email="down@example.org")
    users.add(user)
    try:
        private_messagedb.stop()
        try:
            with pytest.raises(EventStoreError) as caught:
                users.get(user.id)
            text = str(caught.value)
            print(f"\nwhile PostgreSQL is down: {text}")
            assert text.startswith("no database connection within 2 s: "), text
            assert "Connection refused" in text, text
            renamed = User.register(email="queued@example.org")
            with pytest.raises(EventStoreError):
                users.add(renamed)
        finally:
            private_messagedb.start()  # returns once the server accepts connections

        users.add(renamed)
        assert users.get(renamed.id).email == "queued@example.org"
        assert users.get(user.id).email == "down@example.org"
        other = User.register(email=f"{uuid.uuid4()}@example.org")
        users.add(other)
    finally:
        store.close()
