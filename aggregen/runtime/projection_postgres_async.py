"""`AsyncPostgresProjectionTarget`: `PostgresProjectionTarget` for asyncio.

The same positions table, statements, URI handling and error translation as the
synchronous target (they are its own); only the I/O is awaited, on one psycopg
`AsyncConnection`. A task cancelled inside a transaction never commits it: the
transaction is rolled back (psycopg first cancels a statement the server is still
running); when the connection's state is unknown it is closed instead, PostgreSQL
rolls back, and a new connection is made for the next transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from .projection_async import AsyncProjectionTransaction
from .projection_postgres import (
    _CREATE,
    _INSERT,
    _LOCK,
    _SELECT,
    _UPDATE,
    POSITIONS_TABLE,
    PostgresTargetSettings,
    start_position,
)

__all__ = ["AsyncPostgresProjectionTarget"]

_Conn = psycopg.AsyncConnection[Any]
_BEGIN = sql.SQL("BEGIN")
_COMMIT = sql.SQL("COMMIT")
_ROLLBACK = sql.SQL("ROLLBACK")


class AsyncPostgresProjectionTarget(PostgresTargetSettings):
    """A PostgreSQL database holding read models, awaited; see `AsyncProjectionTarget`.

    Arguments as `PostgresProjectionTarget`'s. The connection is made (and the
    positions table created when missing) on first use, again after it breaks; one
    transaction at a time runs on it. Raises `ConfigurationError` for a URI whose
    user name or password cannot be read, `EventStoreError` when the database is
    out of reach or fails; a password in `uri` never appears in its messages. Use
    one target per event loop.
    """

    def __init__(
        self, uri: str, *, table: str = POSITIONS_TABLE, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(uri, table=table, connect_timeout=connect_timeout)
        uri = ""  # no local of a frame on a traceback holds the URI from here on
        self._conn: _Conn | None = None
        self._table_ready = False
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncPostgresProjectionTarget:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self, name: str) -> AsyncIterator[AsyncProjectionTransaction]:
        """Begin, lock projection `name`'s position row, and commit it with the read model."""
        async with self._lock, self._open(f"projection {name!r} failed") as conn:
            await conn.execute(self._query(_INSERT), (name,))
            cursor = await conn.execute(self._query(_LOCK), (name,))
            start = start_position(await cursor.fetchone())
            transaction = AsyncProjectionTransaction(conn, start)
            yield transaction
            if transaction.position != start:
                await conn.execute(self._query(_UPDATE), (transaction.position, name))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[_Conn]:
        """A transaction of its own, for tables and queries; commits unless it raises.

        Errors of the statements run inside are psycopg's own.
        """
        async with self._lock, self._open("the session failed") as conn:
            yield conn

    async def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""
        async with self._lock:
            conn = await self._connection()
            with self._failures_translated(f"could not read projection {name!r}'s position"):
                cursor = await conn.execute(self._query(_SELECT), (name,))
                return start_position(await cursor.fetchone())

    async def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    @asynccontextmanager
    async def _open(self, doing: str) -> AsyncIterator[_Conn]:
        """A transaction on the connection: committed at the end, else never committed."""
        conn = await self._connection()
        committed = False
        try:
            with self._failures_translated(doing):
                await conn.execute(_BEGIN)
            yield conn
            with self._failures_translated(doing):
                await conn.execute(_COMMIT)
            committed = True
        finally:
            if not committed:
                await self._abandon(conn)

    async def _abandon(self, conn: _Conn) -> None:
        """End an uncommitted transaction: roll it back, or drop a connection mid-statement."""
        status = conn.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            with contextlib.suppress(psycopg.Error):
                await conn.execute(_ROLLBACK)
                return
        if status != TransactionStatus.IDLE:
            self._conn = None
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def _connection(self) -> _Conn:
        if self._conn is None or self._conn.broken or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._uri, autocommit=True, connect_timeout=self._connect_timeout
                )
            except psycopg.Error as error:
                raise self._no_connection(error) from None
        if not self._table_ready:
            # Another process may create it at the same moment: then it exists.
            with (
                self._failures_translated("could not create the positions table"),
                contextlib.suppress(psycopg.errors.UniqueViolation),
            ):
                await self._conn.execute(self._query(_CREATE))
            self._table_ready = True
        return self._conn
