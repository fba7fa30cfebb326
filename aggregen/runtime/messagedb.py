"""`MessageDBEventStore`: streams in Eventide's MessageDB on PostgreSQL, via psycopg 3.

The only module of the runtime that imports psycopg. Database errors are translated
into aggregen's errors in one place, `_translate`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import orjson
import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import DuplicateMessageError, EventStoreError, ExpectedVersionError
from .message import RecordedMessage, StreamWrite, check_message_id
from .redaction import redact, uri_password
from .stored_data import not_an_object, undecodable

__all__ = ["MessageDBEventStore"]

T = TypeVar("T")

# MessageDB's functions call each other without a schema; READ COMMITTED keeps a version
# conflict a version conflict (REPEATABLE READ would turn it into 23505); UTC lets
# `time` come back as an aware datetime with no conversion per row.
_SESSION_OPTIONS = (
    "-c search_path=message_store,public "
    "-c default_transaction_isolation=read\\ committed "
    "-c timezone=UTC"
)
_BEGIN = "BEGIN"
_COMMIT = "COMMIT"
_WRITE = (
    "SELECT write_message(%s::varchar, %s::varchar, %s::varchar, %s::jsonb, %s::jsonb, %s::bigint)"
)
_COLUMNS = "id, type, position, global_position, data, metadata, time AT TIME ZONE 'UTC'"
_READ = f"SELECT {_COLUMNS} FROM get_stream_messages(%s::varchar, %s::bigint, %s::bigint)"
_READ_LAST = f"SELECT {_COLUMNS} FROM get_last_stream_message(%s::varchar)"
_VERSION = "SELECT stream_version(%s::varchar)"
_FIND_IDS = "SELECT id, stream_name FROM messages WHERE id = ANY(%s::uuid[])"
_WRONG_VERSION = re.compile(
    r"Wrong expected version: (-?\d+) \(Stream: (.*), Stream Version: (-?\d+)\)"
)


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
        params["options"] = f"{options} {_SESSION_OPTIONS}".strip()
        self._batch_size = batch_size
        self._timeout = timeout
        self._conninfo = make_conninfo("", **params)
        self._pool = psycopg_pool.ConnectionPool(
            self._conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
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
        Appending messages that are all stored already (a retry of a commit whose
        outcome was unknown) succeeds without storing them again. A connection lost
        during the append is retried once on a fresh connection.

        The parameters of each `write_message` are made (message id checked, data
        and metadata serialized) while the statements go out, so that this work
        overlaps with the server's work on the statements sent before. A message
        that cannot be made raises `ValueError` (id not a UUID) or `TypeError` (data
        not JSON-ready); no COMMIT goes out then, and nothing is stored.
        """
        ordered = sorted(writes, key=_category) if len(writes) > 1 else writes
        count = sum(len(write.messages) for write in ordered)
        if not count:
            return

        single = next(_parameters(ordered)) if count == 1 else None

        def write_all(conn: psycopg.Connection[Any]) -> None:
            if single is not None:  # one statement is a transaction of its own
                conn.execute(_WRITE, single)
                return
            # BEGIN, every write_message and COMMIT go out together: one round trip.
            cursor = conn.cursor()
            failure: Exception | None = None
            try:
                with conn.pipeline():
                    try:
                        cursor.execute(_BEGIN)
                        cursor.executemany(_WRITE, _parameters(ordered))
                        cursor.execute(_COMMIT)
                    except psycopg.Error as error:
                        # Keep the first error; leaving the block quietly lets the
                        # pipeline end without logging the "aborted" error it causes.
                        failure = error
            except psycopg.Error as error:
                failure = failure or error
            except Exception as error:  # a message that could not be made: no COMMIT went out
                failure = error
            if failure is not None:
                _roll_back(conn)
                raise failure

        try:
            self._run(write_all)
        except (ExpectedVersionError, DuplicateMessageError):
            if not self._all_stored(ordered):
                raise

    def _all_stored(self, writes: Sequence[StreamWrite]) -> bool:
        """Whether every message (id, stream) of an append is stored already."""
        wanted = {(check_message_id(m.id), w.stream_name) for w in writes for m in w.messages}

        def find(conn: psycopg.Connection[Any]) -> set[tuple[str, str]]:
            ids = [message_id for message_id, _ in wanted]
            rows = conn.execute(_FIND_IDS, (ids,)).fetchall()
            return {(str(message_id), stream) for message_id, stream in rows}

        return self._run(find) == wanted

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time."""
        batch = self._batch_size
        position = max(position, 0)
        while True:
            rows = self._fetch(_READ, (stream_name, position, batch))
            yield from _messages(stream_name, rows)
            if len(rows) < batch:
                return
            position = rows[-1][2] + 1

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        rows = self._fetch(_READ_LAST, (stream_name,))
        return next(_messages(stream_name, rows), None)

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        rows = self._fetch(_VERSION, (stream_name,))
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(query, params).fetchall())

    def _run(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `operation` on a pooled connection, translating errors.

        When the connection turns out to be broken (the server restarted, the
        backend was terminated), the pool drops its dead connections and the
        operation runs once more: every operation here is safe to repeat.
        """
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return operation(conn)
            except psycopg_pool.PoolTimeout:
                raise EventStoreError(
                    f"no database connection within {self._timeout:g} s: {self._diagnose()}"
                ) from None
            except psycopg.OperationalError as error:
                if attempt == 2 or not _connection_lost(error):
                    raise _translate(error, self._redact) from error
                self._pool.check()
            except psycopg.Error as error:
                raise _translate(error, self._redact) from error
        raise AssertionError("unreachable")

    def _diagnose(self) -> str:
        """Why a connection cannot be made: one direct attempt, for the error message."""
        try:
            psycopg.connect(self._conninfo, connect_timeout=2).close()
        except psycopg.Error as error:
            return self._redact(str(error).strip())
        return "the pool is exhausted (all connections busy)"

    def _redact(self, text: str) -> str:
        return redact(text, self._password)


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction before the connection goes back to the pool."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()


def _messages(stream_name: str, rows: list[tuple[Any, ...]]) -> Iterator[RecordedMessage]:
    """Rows of `_COLUMNS` as messages; raises `StreamDataError` for a row that is not one.

    Data must be a JSON object and metadata an object or null: rows that other
    clients or hands wrote may hold anything jsonb holds, or SQL NULL.
    """
    loads = orjson.loads
    new_tuple = tuple.__new__  # the named tuple without its Python-level __new__
    position = -1
    raw_data = raw_metadata = None
    try:
        for message_id, type_name, position, global_position, raw_data, raw_metadata, time in rows:
            data = loads(raw_data)
            metadata = None if raw_metadata is None else loads(raw_metadata)
            if type(data) is not dict or (metadata is not None and type(metadata) is not dict):
                raise not_an_object(stream_name, position, data, metadata)
            yield new_tuple(
                RecordedMessage,
                (
                    message_id,
                    stream_name,
                    type_name,
                    position,
                    global_position,
                    data,
                    metadata,
                    time,
                ),
            )
    except orjson.JSONDecodeError:
        raise undecodable(stream_name, position, raw_data, raw_metadata) from None


def _category(write: StreamWrite) -> str:
    return write.category


def _parameters(writes: Sequence[StreamWrite]) -> Iterator[tuple[Any, ...]]:
    """The `write_message` parameters of each message, made as they are consumed.

    Raises `ValueError` for a message id that is not a UUID, `TypeError` for data or
    metadata that is not JSON-ready.
    """
    dumps = orjson.dumps
    for write in writes:
        stream = write.stream_name
        expected = write.expected_version
        for message in write.messages:
            metadata = message.metadata
            yield (
                check_message_id(message.id),
                stream,
                message.type,
                dumps(message.data).decode(),
                None if metadata is None else dumps(metadata).decode(),
                expected,
            )
            if expected is not None:
                expected += 1


def _connection_lost(error: psycopg.OperationalError) -> bool:
    """Whether `error` means the connection broke (rather than, say, a lock timeout)."""
    return error.sqlstate is None or error.sqlstate.startswith(("08", "57P"))


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
