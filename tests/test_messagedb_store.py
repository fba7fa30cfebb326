"""What only the MessageDB store does: connections, search_path, errors, secrecy."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import pytest

from aggregen.runtime import (
    EventStoreError,
    MessageDBEventStore,
    NewMessage,
    Repository,
    StreamWrite,
    UnitOfWork,
    connect,
)
from tests.domain import User


def test_search_path_is_set_even_when_the_uri_has_other_options(messagedb_uri: str) -> None:
    joiner = "&" if "?" in messagedb_uri else "?"
    uri = f"{messagedb_uri}{joiner}options=-c%20statement_timeout%3D5000&application_name=agg"
    with MessageDBEventStore(uri) as store:
        users = Repository(User, store)
        user = User.register(email="p@example.org")
        users.add(user)
        assert users.get(user.id).email == "p@example.org"


def test_a_database_without_messagedb_says_so(messagedb_uri: str) -> None:
    uri = messagedb_uri.rsplit("/", 1)[0] + "/postgres"
    with MessageDBEventStore(uri) as store, pytest.raises(EventStoreError, match="not installed"):
        store.stream_version("user-1")


def test_an_unreachable_database_fails_clearly_without_the_password() -> None:
    secret = "s3cr3t-Pa55"
    uri = f"postgresql://alice:{secret}@127.0.0.1:1/nowhere?connect_timeout=1"
    write = StreamWrite("user-1", -1, [NewMessage(str(uuid.uuid4()), "T", {}, None)])
    with MessageDBEventStore(uri, timeout=1.5) as store, pytest.raises(EventStoreError) as caught:
        store.append([write])
    text = str(caught.value)
    assert "no database connection" in text
    assert secret not in text
    assert secret not in repr(caught.value.__cause__)


def test_a_wrong_password_never_shows_in_the_error(messagedb_uri: str) -> None:
    secret = "wr0ng-Pa55word"
    rest = messagedb_uri.split("://", 1)[1].split("@", 1)[1]
    uri = f"postgresql://no_such_role:{secret}@{rest}"
    with MessageDBEventStore(uri, timeout=1.5) as store, pytest.raises(EventStoreError) as caught:
        store.stream_version("user-1")
    assert secret not in str(caught.value)


def test_connect_chooses_the_store_from_the_uri_or_the_environment(
    messagedb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", messagedb_uri)
    store = connect()
    try:
        assert isinstance(store, MessageDBEventStore)
    finally:
        store.close()


def test_the_events_of_one_commit_reach_the_server_in_one_round_trip(
    messagedb_uri: str, tmp_path: pathlib.Path
) -> None:
    """Counted in libpq's protocol trace: one Sync for BEGIN, every write and COMMIT."""
    import psycopg

    with MessageDBEventStore(messagedb_uri, min_size=1, max_size=1) as store:
        users = Repository(User, store)
        batch = [User.register(email=f"{n}@example.org") for n in range(3)]
        for user in batch:
            for n in range(4):
                user.rename(first_name=f"n{n}")
        trace = tmp_path / "trace.txt"
        with trace.open("w") as out:
            lease = store._pool.acquire()  # the pool's one connection
            assert lease.conn is not None
            lease.conn.pgconn.trace(out.fileno())
            lease.conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            store._pool.release(lease)
            try:
                with UnitOfWork(store):
                    for user in batch:
                        users.add(user)
            finally:
                lease = store._pool.acquire()
                assert lease.conn is not None
                lease.conn.pgconn.untrace()
                store._pool.release(lease)
        sent = [line.split("\t")[2] for line in trace.read_text().splitlines()]

    assert sent.count("Execute") == 1 + 15 + 1
    assert sent.count("Sync") == 1


@pytest.mark.parametrize("length", range(8))
def test_reads_page_through_a_stream_in_one_round_trip_per_page(
    messagedb_uri: str, length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MessageDBEventStore(messagedb_uri, batch_size=3)
    stream = f"paging-{uuid.uuid4()}"
    if length:
        store.append(
            [
                StreamWrite(
                    stream,
                    -1,
                    [NewMessage(str(uuid.uuid4()), "Paged", {"n": n}, None) for n in range(length)],
                )
            ]
        )
    fetches: list[object] = []
    fetch = store._fetch

    def counted(*args: Any) -> list[tuple[Any, ...]]:
        fetches.append(args)
        return fetch(*args)

    monkeypatch.setattr(store, "_fetch", counted)

    for start in range(length + 1):
        fetches.clear()
        read = [m.data["n"] for m in store.read(stream, start)]
        assert read == list(range(start, length))
        assert len(fetches) == max(1, -(-(length - start) // 3)), "one query per page"
    store.close()
