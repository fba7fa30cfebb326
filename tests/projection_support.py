"""A projection for the tests of exactly-once projections, and a database for it.

`Tally` keeps one row per message (a second apply of a message breaks its primary
key) and a per-stream count (a second apply would silently count twice). Its SQL
runs on PostgreSQL and on the SQLite stand-in alike.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from aggregen.runtime import AsyncSession, RecordedMessage, Session

APP_DATABASE = "aggregen_app_test"


class Tally:
    """Counts the messages of each stream into two tables named after `suffix`."""

    def __init__(self, suffix: str | None = None, fail_at: int | None = None) -> None:
        self.suffix = suffix or uuid.uuid4().hex[:12]
        self.seen = f"seen_{self.suffix}"
        self.totals = f"totals_{self.suffix}"
        self.fail_at = fail_at

    def table_statements(self) -> list[str]:
        """The statements that create its tables."""
        return [
            f"CREATE TABLE IF NOT EXISTS {self.seen} "
            "(stream_name text, position integer, PRIMARY KEY (stream_name, position))",
            f"CREATE TABLE IF NOT EXISTS {self.totals} "
            "(stream_name text PRIMARY KEY, count integer)",
        ]

    def create_tables(self, session: Session) -> None:
        for statement in self.table_statements():
            session.execute(statement)

    def statements(self, message: RecordedMessage) -> list[tuple[str, tuple[Any, ...]]]:
        """What applying `message` runs; raises at `fail_at`."""
        if message.data.get("n") == self.fail_at:
            raise RuntimeError("refused on purpose")
        return [
            (
                f"INSERT INTO {self.seen} (stream_name, position) VALUES (%s, %s)",
                (message.stream_name, message.position),
            ),
            (
                f"INSERT INTO {self.totals} (stream_name, count) VALUES (%s, 1) "
                f"ON CONFLICT (stream_name) DO UPDATE SET count = {self.totals}.count + 1",
                (message.stream_name,),
            ),
        ]

    def handle(self, message: RecordedMessage, session: Session) -> None:
        for query, params in self.statements(message):
            session.execute(query, params)

    def model(self, session: Session) -> tuple[list[Any], list[Any]]:
        """The read model: every (stream, position) seen and every stream's count, sorted."""
        seen = session.execute(
            f"SELECT stream_name, position FROM {self.seen} ORDER BY 1, 2"
        ).fetchall()
        totals = session.execute(
            f"SELECT stream_name, count FROM {self.totals} ORDER BY 1"
        ).fetchall()
        return [tuple(row) for row in seen], [tuple(row) for row in totals]


class AsyncTally:
    """A `Tally` as an `AsyncProjection`: the same statements, awaited."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def handle(self, message: RecordedMessage, session: AsyncSession) -> None:
        for query, params in self.tally.statements(message):
            await session.execute(query, params)


def app_database_uri(messagedb_uri: str) -> str:
    """The URI of a database beside MessageDB's for read models, created when missing."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(messagedb_uri)
    admin = make_conninfo("", **{**params, "dbname": "postgres"})
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,)
        ).fetchone()
        if not exists:
            # Another test process may create it at the same moment.
            with contextlib.suppress(
                psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
            ):
                conn.execute(f'CREATE DATABASE "{APP_DATABASE}"')
    return make_conninfo("", **{**params, "dbname": APP_DATABASE})
