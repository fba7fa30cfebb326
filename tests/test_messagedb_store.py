"""What only the MessageDB store does: connections, search_path, errors, secrecy."""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import subprocess
import sys
import threading
import uuid
from typing import Any

import psycopg
import pytest

from aggregen.runtime import (
    AsyncMessageDBEventStore,
    EventStoreError,
    MessageDBEventStore,
    NewMessage,
    Repository,
    StreamDataError,
    StreamWrite,
    UnitOfWork,
    connect,
    connect_async,
)
from tests.async_support import SyncFacade
from tests.domain import User
from tests.test_runtime_surface import assert_hidden


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


@pytest.mark.parametrize("scheme", ["postgresql", "Postgres"])
def test_connect_async_chooses_the_async_store_from_the_uri_or_the_environment(
    messagedb_uri: str, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", f"{scheme}://{messagedb_uri.split('://', 1)[1]}")
    store = connect_async(max_size=1)

    async def use() -> int:
        try:
            return await store.stream_version(f"user-{uuid.uuid4()}")
        finally:
            await store.close()

    assert isinstance(store, AsyncMessageDBEventStore)
    assert asyncio.run(use()) == -1


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


def test_a_page_decoded_in_one_parse_reads_as_each_row_alone(messagedb_uri: str) -> None:
    # A page's data is parsed as one JSON array: one level deeper than each row. Data
    # nested to orjson's limit (1,024) must still read, as must metadata that is SQL
    # NULL or JSON null (no metadata either way) next to metadata that is an object.
    stream = f"paging-{uuid.uuid4()}"
    deep = '{"deep": ' + "[" * 1023 + "]" * 1023 + "}"
    rows = [('{"n": 0}', '{"schemaVersion": 1}'), (deep, None), ('{"n": 2}', "null")]
    with psycopg.connect(messagedb_uri) as conn:
        for position, (data, metadata) in enumerate(rows):
            conn.execute(
                "INSERT INTO message_store.messages (stream_name, type, position, data, metadata)"
                " VALUES (%s, 'Paged', %s, %s::jsonb, %s::jsonb)",
                (stream, position, data, metadata),
            )
    with MessageDBEventStore(messagedb_uri) as store:
        first, second, third = store.read(stream)
    assert (first.position, first.data, first.metadata) == (0, {"n": 0}, {"schemaVersion": 1})
    assert (second.position, second.metadata, list(second.data)) == (1, None, ["deep"])
    assert nesting(second.data["deep"]) == 1023
    assert (third.position, third.data, third.metadata) == (2, {"n": 2}, None)


def test_a_stored_time_that_no_datetime_holds_is_a_stream_data_error(messagedb_uri: str) -> None:
    stream = f"paging-{uuid.uuid4()}"
    with psycopg.connect(messagedb_uri) as conn:
        for position, time in enumerate(["2026-11-30 12:00:00.5", "infinity"]):
            conn.execute(
                "INSERT INTO message_store.messages (stream_name, type, position, data, time)"
                " VALUES (%s, 'Paged', %s, '{}', %s::timestamp)",
                (stream, position, time),
            )
    with MessageDBEventStore(messagedb_uri) as store:
        assert next(store.read(stream)).time == datetime.datetime(
            2026, 11, 30, 12, 0, 0, 500000, tzinfo=datetime.UTC
        )
        with pytest.raises(StreamDataError) as caught:
            list(store.read(stream))
    assert (caught.value.stream_name, caught.value.position) == (stream, 1)
    assert "'infinity' is not a readable timestamp" in str(caught.value)


def nesting(value: list[Any]) -> int:
    """How many lists deep `value` is: `[[]]` is 2 (no recursion: it may be deep)."""
    depth = 1
    while value:
        value = value[0]
        depth += 1
    return depth


@pytest.mark.parametrize("scheme", ["POSTGRESQL", "PostgreSQL", "Postgres"])
def test_the_scheme_is_case_insensitive(messagedb_uri: str, scheme: str) -> None:
    uri = f"{scheme}://{messagedb_uri.split('://', 1)[1]}"
    store = connect(uri)
    try:
        assert isinstance(store, MessageDBEventStore)
        users = Repository(User, store)
        user = User.register(email="upper@example.org")
        users.add(user)
        assert users.get(user.id).email == "upper@example.org"
    finally:
        store.close()


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://alice:{secret}@127.0.0.1:1/nowhere",
        "postgresql://alice@127.0.0.1:1/nowhere?password={secret}",
        "host=127.0.0.1 port=1 user=alice password={secret} dbname=nowhere",
    ],
)
def test_no_frame_on_the_traceback_of_a_failed_connection_holds_the_password(uri: str) -> None:
    secret = "s3cr3t-L0cal"
    store = MessageDBEventStore(uri.format(secret=secret), timeout=1.5)
    with store, pytest.raises(EventStoreError) as caught:
        store.stream_version("user-1")
    assert_hidden(caught.value, secret)


def test_a_wrong_password_is_hidden_in_every_local_too(messagedb_uri: str) -> None:
    secret = "wr0ng-L0cal"
    rest = messagedb_uri.split("://", 1)[1].split("@", 1)[1]
    store = MessageDBEventStore(f"postgresql://no_such_role:{secret}@{rest}")
    with store, pytest.raises(EventStoreError) as caught:
        store.stream_version("user-1")
    assert "no database connection could be made" in str(caught.value)
    assert_hidden(caught.value, secret)


LOG_A_DRIVER_WARNING = """
import logging, sys
{configure}
import aggregen.runtime.messagedb
logging.getLogger("psycopg.pool").warning("discarding closed connection: <conn>")
logging.getLogger("psycopg").warning("error ignored terminating <Pipeline>")
logging.getLogger("aggregen").warning("could not write snapshot of user:snapshot-1")
"""


@pytest.mark.parametrize("configured", [False, True])
def test_warnings_reach_stderr_only_when_the_app_configured_logging(
    configured: bool,
) -> None:
    configure = "logging.basicConfig(stream=sys.stderr)" if configured else ""
    result = subprocess.run(
        [sys.executable, "-c", LOG_A_DRIVER_WARNING.format(configure=configure)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    if configured:
        assert "discarding closed connection" in result.stderr
        assert "error ignored terminating" in result.stderr
        assert "could not write snapshot" in result.stderr
    else:
        assert result.stderr == ""


def test_a_pool_whose_connections_stay_in_use_says_so(messagedb_uri: str) -> None:
    with MessageDBEventStore(messagedb_uri, max_size=2, timeout=0.3) as store:
        held = threading.Event()
        done = threading.Event()

        def hold() -> None:
            lease = store._pool.acquire()
            held.set()
            done.wait(30)
            store._pool.release(lease)

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for thread in holders:
            held.clear()
            thread.start()
            assert held.wait(30)
        try:
            with pytest.raises(EventStoreError) as caught:
                store.stream_version("user-1")
        finally:
            done.set()
            for thread in holders:
                thread.join(30)
        assert str(caught.value) == (
            "all 2 database connections stayed in use by other threads for 0.3 s (max_size)"
        )
        assert store.stream_version("user-1") == -1, "free again"


def test_a_connection_left_held_by_an_ended_thread_is_reclaimed(messagedb_uri: str) -> None:
    with MessageDBEventStore(messagedb_uri, max_size=1, timeout=0.3) as store:
        thread = threading.Thread(target=store._pool.acquire)  # never released
        thread.start()
        thread.join(30)
        assert store.stream_version("user-1") == -1


@pytest.mark.parametrize("kind", ["messagedb", "async-messagedb"])
def test_a_nul_late_in_a_refused_append_is_the_error_as_in_memory(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """The store model found it: a message with a NUL character after a message the
    server refuses (a version conflict) raised the conflict here (sync: when the
    server's answer came back before the last message was made; async: always, the
    NUL left to the server), where the in-memory and JetStream stores, which make
    every message before checking any, raise `EventStoreError`."""
    store: Any = request.getfixturevalue("messagedb_store")
    if kind == "async-messagedb":
        store = SyncFacade(
            request.getfixturevalue("async_messagedb_store"),
            request.getfixturevalue("event_loop_thread"),
        )
    stream = f"nulOrder-{uuid.uuid4()}"
    store.append([StreamWrite(stream, -1, [NewMessage(str(uuid.uuid4()), "A", {}, None)])])
    messages = [NewMessage(str(uuid.uuid4()), "A", {"n": n}, None) for n in range(2000)]
    messages.append(NewMessage(str(uuid.uuid4()), "A", {"s": "nul\x00"}, None))

    with pytest.raises(EventStoreError, match="cannot be converted to text"):
        store.append([StreamWrite(stream, 5, messages)])  # the stream is at 0, not 5
    assert store.stream_version(stream) == 0
