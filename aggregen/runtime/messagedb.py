"""`MessageDBEventStore`: streams in Eventide's MessageDB on PostgreSQL, via psycopg 3.

The only module of the runtime that imports psycopg. Database errors are translated
into aggregen's errors in one place, `_translate`.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import orjson
import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import DuplicateMessageError, EventStoreError, ExpectedVersionError
from .message import RecordedMessage, StreamWrite
from .redaction import redact, uri_password

__all__ = ["MessageDBEventStore"]

_SEARCH_PATH = "-c search_path=message_store,public"
_WRITE = (
    "SELECT write_message(%s::varchar, %s::varchar, %s::varchar, %s::jsonb, %s::jsonb, %s::bigint)"
)
_COLUMNS = "id, type, position, global_position, data, metadata, time"
_READ = f"SELECT {_COLUMNS} FROM get_stream_messages(%s::varchar, %s::bigint, %s::bigint)"
_READ_LAST = f"SELECT {_COLUMNS} FROM get_last_stream_message(%s::varchar)"
_VERSION = "SELECT stream_version(%s::varchar)"
_WRONG_VERSION = re.compile(
    r"Wrong expected version: (-?\d+) \(Stream: (.*), Stream Version: (-?\d+)\)"
)
_UTC = datetime.UTC


class MessageDBEventStore:
    """Streams in MessageDB, reached through a pool of psycopg connections.

    `uri` is a PostgreSQL URI or conninfo string. Connections set their own
    `search_path=message_store,public`, so a stock MessageDB install works whatever
    the role, and write in READ COMMITTED transactions. The messages of one append
    reach the server in one pipelined round trip. Reads page through
    `get_stream_messages`, `batch_size` messages a page. `timeout` bounds the wait
    for a connection (seconds). Raises `EventStoreError` when the database is out
    of reach; a password in `uri` never appears in its messages.
    """

    def __init__(
        self,
        uri: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        batch_size: int = 1000,
        timeout: float = 10.0,
    ) -> None:
        self._password = uri_password(uri)
        try:
            params = conninfo_to_dict(uri)
        except psycopg.ProgrammingError as error:
            raise EventStoreError(f"invalid database URI: {self._redact(str(error))}") from None
        options = str(params.get("options") or "")
        params["options"] = f"{options} {_SEARCH_PATH}".strip()
        self._batch_size = batch_size
        self._timeout = timeout
        self._conninfo = make_conninfo("", **params)
        self._pool = psycopg_pool.ConnectionPool(
            self._conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=timeout,
            name="aggregen-messagedb",
            open=True,
        )

    def __enter__(self) -> MessageDBEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none, in one transaction; see `EventStore.append`.

        Streams are written category by category in sorted order, since MessageDB
        holds a lock per category until commit and two orders could deadlock.
        """
        params: list[tuple[Any, ...]] = []
        for write in sorted(writes, key=lambda w: w.category):
            expected = write.expected_version
            for message in write.messages:
                _check_message_id(message.id)
                params.append(
                    (
                        message.id,
                        write.stream_name,
                        message.type,
                        orjson.dumps(message.data).decode(),
                        None
                        if message.metadata is None
                        else orjson.dumps(message.metadata).decode(),
                        expected,
                    )
                )
                if expected is not None:
                    expected += 1
        if not params:
            return
        with self._connection() as conn, conn.pipeline(), conn.transaction():
            conn.cursor().executemany(_WRITE, params)

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time."""
        batch = self._batch_size
        position = max(position, 0)
        while True:
            with self._connection() as conn:
                rows = conn.execute(_READ, (stream_name, position, batch)).fetchall()
            yield from _messages(stream_name, rows)
            if len(rows) < batch:
                return
            position = rows[-1][2] + 1

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        with self._connection() as conn:
            rows = conn.execute(_READ_LAST, (stream_name,)).fetchall()
        return next(_messages(stream_name, rows), None)

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        with self._connection() as conn:
            row = conn.execute(_VERSION, (stream_name,)).fetchone()
        return -1 if row is None or row[0] is None else int(row[0])

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout:
            raise EventStoreError(
                f"no database connection within {self._timeout:g} s: {self._diagnose()}"
            ) from None
        except psycopg.Error as error:
            raise _translate(error, self._redact) from error

    def _diagnose(self) -> str:
        """Why a connection cannot be made: one direct attempt, for the error message."""
        try:
            psycopg.connect(self._conninfo, connect_timeout=2).close()
        except psycopg.Error as error:
            return self._redact(str(error).strip())
        return "the pool is exhausted (all connections busy)"

    def _redact(self, text: str) -> str:
        return redact(text, self._password)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED


def _messages(stream_name: str, rows: list[tuple[Any, ...]]) -> Iterator[RecordedMessage]:
    loads = orjson.loads
    for message_id, type_name, position, global_position, data, metadata, time in rows:
        yield RecordedMessage(
            message_id,
            stream_name,
            type_name,
            position,
            global_position,
            loads(data),
            None if metadata is None else loads(metadata),
            time.replace(tzinfo=_UTC),
        )


def _json(data: Any) -> str:
    return orjson.dumps(data).decode()


def _check_message_id(message_id: str) -> None:
    try:
        uuid.UUID(message_id)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"a message id must be a UUID string, not {message_id!r}") from None


def _translate(error: psycopg.Error, redact_text: Any) -> Exception:
    """The aggregen error for a psycopg error (the one place database errors are mapped)."""
    text = str(error)
    if isinstance(error, pg_errors.RaiseException):
        match = _WRONG_VERSION.search(text)
        if match:
            expected, stream, actual = match.groups()
            return ExpectedVersionError(stream, int(expected), int(actual))
    if isinstance(error, pg_errors.UniqueViolation):
        match = re.search(
            r"\(id\)=\(([0-9a-fA-F-]+)\)", getattr(error.diag, "message_detail", "") or ""
        )
        return DuplicateMessageError(match.group(1) if match else "(unknown)")
    if isinstance(error, pg_errors.UndefinedFunction):
        return EventStoreError(
            "MessageDB is not installed in this database (run scripts/messagedb-setup.sh): "
            + redact_text(text)
        )
    return EventStoreError(f"event store failed: {redact_text(text)}")
