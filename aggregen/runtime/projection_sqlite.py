"""`SQLiteProjectionTarget`: a stand-in for PostgreSQL read models in tests, SQLite in memory.

A projection written for `PostgresProjectionTarget` runs here unchanged when its SQL
is common to both (CREATE TABLE, INSERT ... ON CONFLICT, UPDATE, DELETE, SELECT):
`%s` and `%(name)s` placeholders are rewritten to SQLite's. Positions and read models
change in one transaction per batch, as on PostgreSQL.

`AsyncSQLiteProjectionTarget` is the same database behind the async protocols, for
testing async projections: each statement runs at once (SQLite in memory does not
wait for I/O) and one transaction is open at a time.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import re
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any

from .projection import ProjectionTransaction
from .projection_async import AsyncProjectionTransaction

__all__ = [
    "AsyncSQLiteCursor",
    "AsyncSQLiteProjectionTarget",
    "AsyncSQLiteSession",
    "SQLiteProjectionTarget",
    "SQLiteSession",
]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


@lru_cache(maxsize=256)
def _sqlite_query(query: str) -> str:
    """`query` with psycopg's placeholders (`%s`, `%(name)s`, `%%`) in SQLite's form."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        return f":{match.group(1)}" if match.group(1) else "?"

    return _PLACEHOLDER.sub(replace, query)


class SQLiteSession:
    """A SQLite connection that takes psycopg-style queries; see `Session`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(
        self, query: Any, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> sqlite3.Cursor:
        """Run one statement; raises `sqlite3.Error` as SQLite does.

        Values SQLite has no type for are passed as PostgreSQL would print them:
        `Decimal`, `UUID`, dates and times, and enums as text.
        """
        if params is None:
            bound: Sequence[Any] | Mapping[str, Any] = ()
        elif isinstance(params, Mapping):
            bound = {key: _sqlite_value(value) for key, value in params.items()}
        else:
            bound = [_sqlite_value(value) for value in params]
        return self.connection.execute(_sqlite_query(str(query)), bound)


def _sqlite_value(value: Any) -> Any:
    """`value` as SQLite can bind it: text for the types it lacks, else unchanged."""
    if value is None or isinstance(value, str | int | float | bytes):
        return value
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):  # datetime too
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _sqlite_value(value.value)
    return value


class SQLiteProjectionTarget:
    """Read models and positions in SQLite (`:memory:` by default); see `ProjectionTarget`.

    Thread-safe: one transaction at a time.
    """

    def __init__(self, path: str = ":memory:") -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._session = SQLiteSession(self.connection)
        self._lock = threading.RLock()
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS aggregen_projection_positions "
            "(name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
        )

    @contextmanager
    def transaction(self, name: str) -> Iterator[ProjectionTransaction]:
        """Begin, read projection `name`'s position, and commit it with the read model."""
        with self._lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                start = self.position(name)
                transaction = ProjectionTransaction(self._session, start)
                yield transaction
                if transaction.position != start:
                    self.connection.execute(
                        "INSERT INTO aggregen_projection_positions (name, position) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                        (name, transaction.position),
                    )
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    @contextmanager
    def session(self) -> Iterator[SQLiteSession]:
        """A transaction of its own, for tables and queries; commits unless it raises."""
        with self._lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._session
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""
        with self._lock:
            row = self.connection.execute(
                "SELECT position FROM aggregen_projection_positions WHERE name = ?", (name,)
            ).fetchone()
        return int(row[0]) if row else None

    def close(self) -> None:
        """Close the database (an in-memory one is gone then)."""
        self.connection.close()


class AsyncSQLiteCursor:
    """A SQLite cursor whose fetches are awaited; see `AsyncCursor`."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return self.cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""
        return self.cursor.fetchall()


class AsyncSQLiteSession:
    """`SQLiteSession` with an awaited `execute`; see `AsyncSession`."""

    def __init__(self, session: SQLiteSession) -> None:
        self.session = session

    async def execute(
        self, query: Any, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> AsyncSQLiteCursor:
        """Run one statement as `SQLiteSession.execute` does (raising `sqlite3.Error`)."""
        return AsyncSQLiteCursor(self.session.execute(query, params))


class AsyncSQLiteProjectionTarget:
    """A `SQLiteProjectionTarget` behind the async protocols; see `AsyncProjectionTarget`.

    `sync` is the synchronous target on the same database (made from `path` when not
    given), for reading the read model in tests. Use it from one event loop.
    """

    def __init__(self, path: str = ":memory:", *, sync: SQLiteProjectionTarget | None = None):
        self.sync = sync if sync is not None else SQLiteProjectionTarget(path)
        self._lock = asyncio.Lock()
        """One transaction at a time: tasks of one loop share a thread, so the sync
        target's thread lock does not keep them apart."""

    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[AsyncProjectionTransaction]:
        """Begin, read projection `name`'s position, and commit it with the read model.

        Cancellation inside rolls the transaction back.
        """
        async with self._lock:
            with self.sync.transaction(name) as inner:
                outer = AsyncProjectionTransaction(
                    AsyncSQLiteSession(self.sync._session), inner.position
                )
                yield outer
                inner.position = outer.position

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSQLiteSession]:
        """A transaction of its own, for tables and queries; commits unless it raises."""
        async with self._lock:
            with self.sync.session() as session:
                yield AsyncSQLiteSession(session)

    async def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""
        return self.sync.position(name)

    async def close(self) -> None:
        """Close the database (an in-memory one is gone then)."""
        self.sync.close()
