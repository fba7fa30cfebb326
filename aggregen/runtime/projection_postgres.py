"""`PostgresProjectionTarget`: read models and their positions in the application's PostgreSQL.

Positions live in a small table of the runtime's (`aggregen_projection_positions` by
default), created when missing, one row per projection, locked for the length of
each batch's transaction. The database need not be the message store's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from .errors import ConfigurationError, EventStoreError
from .projection import ProjectionTransaction
from .redaction import redact, uri_secrets, userinfo_problem

__all__ = [
    "POSITIONS_TABLE",
    "PostgresProjectionTarget",
    "PostgresTargetSettings",
    "start_position",
]

POSITIONS_TABLE = "aggregen_projection_positions"

_CREATE = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, position bigint NOT NULL, "
    "updated_at timestamptz NOT NULL DEFAULT now())"
)
_INSERT = sql.SQL("INSERT INTO {} (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING")
_LOCK = sql.SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE")
_SELECT = sql.SQL("SELECT position FROM {} WHERE name = %s")
_UPDATE = sql.SQL("UPDATE {} SET position = %s, updated_at = now() WHERE name = %s")


class PostgresTargetSettings:
    """What the sync and async PostgreSQL targets share: the URI, the table, the errors.

    Raises `ConfigurationError` for a URI whose user name or password cannot be read.
    """

    def __init__(self, uri: str, *, table: str, connect_timeout: float) -> None:
        problem = userinfo_problem(uri)
        if problem is not None:
            raise ConfigurationError(f"invalid database URI: {problem}")
        self._secrets = uri_secrets(uri)
        self._uri = uri
        uri = ""  # no local of a frame on a traceback holds the URI from here on
        self._connect_timeout = max(1, int(connect_timeout))
        self._table = sql.Identifier(*table.split(".", 1))

    def _query(self, statement: sql.SQL) -> sql.Composed:
        """`statement` naming the positions table."""
        return statement.format(self._table)

    def _no_connection(self, error: psycopg.Error) -> EventStoreError:
        """The error for a connection that could not be made (raise it `from None`)."""
        return EventStoreError(
            f"no connection to the projection database: {self._redact(str(error))}"
        )

    @contextmanager
    def _failures_translated(self, doing: str) -> Iterator[None]:
        """Re-raise database errors of our own statements as `EventStoreError`."""
        try:
            yield
        except psycopg.Error as error:
            raise EventStoreError(f"{doing}: {self._redact(str(error).strip())}") from error

    def _redact(self, text: str) -> str:
        return redact(text, *self._secrets)


def start_position(row: Any) -> int | None:
    """The position in a locked or selected positions row (0 or no row: None)."""
    return row[0] if row and row[0] else None


class PostgresProjectionTarget(PostgresTargetSettings):
    """A PostgreSQL database holding read models; see `ProjectionTarget`.

    `uri` is a PostgreSQL URI or conninfo string; `table` names the positions table
    (optionally schema-qualified as `schema.table`). One connection, opened at once
    and again after it breaks. Raises `ConfigurationError` for a URI whose user name
    or password cannot be read, `EventStoreError` when the database is out of reach
    or fails; a password in `uri` never appears in its messages.
    """

    def __init__(
        self, uri: str, *, table: str = POSITIONS_TABLE, connect_timeout: float = 10.0
    ) -> None:
        super().__init__(uri, table=table, connect_timeout=connect_timeout)
        uri = ""
        self._conn: psycopg.Connection[Any] | None = None
        with self._failures_translated("could not create the positions table"):
            conn = self._connection()
            # Another process may create it at the same moment: then it exists.
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                conn.execute(self._query(_CREATE))

    @contextmanager
    def transaction(self, name: str) -> Iterator[ProjectionTransaction]:
        """Begin, lock projection `name`'s position row, and commit it with the read model."""
        conn = self._connection()
        with self._failures_translated(f"projection {name!r} failed"), conn.transaction():
            conn.execute(self._query(_INSERT), (name,))
            start = start_position(conn.execute(self._query(_LOCK), (name,)).fetchone())
            transaction = ProjectionTransaction(conn, start)
            yield transaction
            if transaction.position != start:
                conn.execute(self._query(_UPDATE), (transaction.position, name))

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction of its own, for tables and queries; commits unless it raises.

        Errors of the statements run inside are psycopg's own.
        """
        conn = self._connection()
        with conn.transaction():
            yield conn

    def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""
        with self._failures_translated(f"could not read projection {name!r}'s position"):
            row = self._connection().execute(self._query(_SELECT), (name,)).fetchone()
        return start_position(row)

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.broken or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self._uri, autocommit=True, connect_timeout=self._connect_timeout
                )
            except psycopg.Error as error:
                raise self._no_connection(error) from None
        return self._conn
