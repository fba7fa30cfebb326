"""What the read-side workloads share: the category they read, the read model's SQL.

Runs in both virtual environments (psycopg and orjson only).

`ensure_category(uri, events)` returns the name of a category holding exactly
`events` User events (`Registered`, then `Renamed`) of `events // 10` users, 10
events each, written round by round so that the streams interleave in global order
as they would in a live system. The category is written once, in one transaction (so
it is complete or absent), and reused by every later run and every suite: aggregen's
consumer and projector, the raw loops and the consumer-group reads all read the same
messages. Metadata is what aggregen writes (`{"schemaVersion": 1}`).

The read model every projection builds is a table of users (`id`, `email`,
`first_name`): `Registered` inserts a row, `Renamed` updates it, one statement per
event (`REGISTER`, `RENAME`), in a database of its own (`aggregen_bench_app` for
aggregen and the raw loop, eventsourcing's for eventsourcing) on the same server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = [
    "APP_DATABASE",
    "CREATE_USERS",
    "EVENTS_PER_STREAM",
    "READ_BATCH",
    "REGISTER",
    "RENAME",
    "category_name",
    "check_users",
    "database_uri",
    "ensure_category",
    "user_event",
]

EVENTS_PER_STREAM = 10
READ_BATCH = 1000
"""Messages per category read, for every reader (MessageDB's default batch)."""
APP_DATABASE = "aggregen_bench_app"
CREATE_USERS = "CREATE TABLE {} (id text PRIMARY KEY, email text NOT NULL, first_name text)"
REGISTER = "INSERT INTO {} (id, email, first_name) VALUES (%s, %s, %s)"
RENAME = "UPDATE {} SET first_name = %s WHERE id = %s"

OPTIONS = "-c search_path=message_store,public"
WRITE = "SELECT write_message(%s::varchar, %s::varchar, %s::varchar, %s::jsonb, %s::jsonb)"
COUNT = "SELECT count(*) FROM messages WHERE category(stream_name::varchar) = %s"
METADATA = orjson.dumps({"schemaVersion": 1}).decode()
CHUNK = 10_000


def category_name(events: int) -> str:
    """The fixture category for `events` events (one per size, so sizes never mix)."""
    return f"benchReadUser{events}"


def user_event(n: int, round_number: int) -> tuple[str, dict[str, Any]]:
    """The type and data of user `n`'s event in round `round_number` (0: Registered)."""
    if round_number == 0:
        data = {"email": f"user{n}@example.com", "first_name": "Ada", "joined_on": "2024-01-15"}
        return "Registered", data
    return "Renamed", {"first_name": f"Ada {round_number}"}


def _rows(events: int) -> list[tuple[str, str, str, str, str]]:
    category = category_name(events)
    streams = [f"{category}-{uuid.uuid4()}" for _ in range(max(1, events // EVENTS_PER_STREAM))]
    rows: list[tuple[str, str, str, str, str]] = []
    for round_number in range(EVENTS_PER_STREAM):
        for n, stream in enumerate(streams):
            if len(rows) == events:
                return rows
            kind, data = user_event(n, round_number)
            rows.append((str(uuid.uuid4()), stream, kind, orjson.dumps(data).decode(), METADATA))
    return rows


def ensure_category(uri: str, events: int, log: Callable[[str], None] | None = None) -> str:
    """The name of a category holding exactly `events` User events, written if missing.

    Raises `RuntimeError` when the category holds some other number of messages
    (something else wrote into it).
    """
    category = category_name(events)
    with psycopg.connect(uri, autocommit=True, options=OPTIONS) as conn:
        row = conn.execute(COUNT, (category,)).fetchone()
        found = 0 if row is None else int(row[0])
        if found == events:
            return category
        if found:
            raise RuntimeError(
                f"category {category!r} holds {found:,} messages, not {events:,}: "
                "delete them or use another size"
            )
        if log is not None:
            log(f"benchmarks: writing {events:,} events into category {category!r} (once)")
        rows = _rows(events)
        with conn.pipeline(), conn.transaction():
            cursor = conn.cursor()
            for start in range(0, len(rows), CHUNK):
                cursor.executemany(WRITE, rows[start : start + CHUNK])
        conn.execute("ANALYZE messages")
    return category


def database_uri(uri: str, name: str) -> str:
    """The URI of database `name` on `uri`'s server, created when missing."""
    params = conninfo_to_dict(uri)
    admin = make_conninfo("", **{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo("", **{**params, "dbname": name})


def check_users(conn: psycopg.Connection[Any], table: str, events: int) -> None:
    """Raise `AssertionError` unless `table` holds the read model of `events` events."""
    users = max(1, events // EVENTS_PER_STREAM)
    renames = events // users - 1
    row = conn.execute(f"SELECT count(*), min(first_name), max(first_name) FROM {table}").fetchone()
    expected_name = "Ada" if renames < 1 else f"Ada {renames}"
    if row is None or tuple(row) != (users, expected_name, expected_name):
        raise AssertionError(f"{table}: {row}, expected {users} users named {expected_name!r}")
