"""`MessageDBEventStore`: streams in Eventide's MessageDB on PostgreSQL, via psycopg 3.

The only module of the runtime that imports psycopg. Database errors are translated
into aggregen's errors in one place, `_translate`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .category import ConsumerGroup, check_batch_size, check_category
from .errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    DuplicateMessageError,
    EventStoreError,
    ExpectedVersionError,
    StreamDataError,
    version_conflict,
)
from .message import RecordedMessage, StreamWrite, check_message_id
from .messagedb_pool import ConnectionPool, Lease, PoolBusy, PoolClosed
from .redaction import redact, uri_secrets, userinfo_problem
from .replica import Routes
from .store import ClosingStore
from .stored_data import json_text, not_an_object, undecodable

__all__ = ["MessageDBEventStore"]

# A library leaves logging to the application. Without a handler of its own, psycopg's
# warnings (e.g. "error ignored terminating <Pipeline>" after an interrupt) would reach
# stderr through `logging.lastResort` in an application that configured no logging;
# the handlers an application configures still receive them.
for _library_logger in ("psycopg", "aggregen"):
    logging.getLogger(_library_logger).addHandler(logging.NullHandler())

T = TypeVar("T")
P = TypeVar("P")

# MessageDB's functions call each other without a schema; READ COMMITTED keeps a version
# conflict a version conflict (REPEATABLE READ would turn it into 23505); UTC lets
# `time` come back as an aware datetime with no conversion per row, and the ISO date
# style as text that `datetime.fromisoformat` reads (see `_decoded`).
_SESSION_OPTIONS = (
    "-c search_path=message_store,public "
    "-c default_transaction_isolation=read\\ committed "
    "-c timezone=UTC "
    "-c datestyle=ISO"
)
_BEGIN = "BEGIN"
_COMMIT = "COMMIT"
_WRITE = (
    "SELECT write_message(%s::varchar, %s::varchar, %s::varchar, %s::jsonb, %s::jsonb, %s::bigint)"
)
_COLUMNS = (
    "id, stream_name, type, position, global_position, data, metadata, time AT TIME ZONE 'UTC'"
)
# A stream's page: the query `get_stream_messages` runs, on the `messages_stream`
# index, without the function around it. The PL/pgSQL function builds its query as
# text and plans it anew on every call, then hands the rows over through a tuplestore:
# about a fifth of a 1,000-message read's time on the server. The function also
# refuses a category name (no `-`); here one reads as an empty stream, as in memory.
# The columns are `_COLUMNS` but the stream name, which every row shares; SQL NULL
# metadata reads as JSON `null` (both mean no metadata), so that `_decoded` can join
# a page's metadata into one array, and `time` as text, which `_decoded` reads in a
# tenth of the time psycopg takes for a timestamptz.
_READ = (
    "SELECT id::varchar, type, position, global_position, data::varchar, "
    "coalesce(metadata::varchar, 'null'), (time AT TIME ZONE 'UTC')::text FROM messages "
    "WHERE stream_name = %s::text AND position >= %s::bigint ORDER BY position LIMIT %s::bigint"
)
_READ_LAST = f"SELECT {_COLUMNS} FROM get_last_stream_message(%s::varchar)"
# Category reads select `_COLUMNS` with SQL NULL metadata as JSON `null`, as `_READ`
# does, so that `_category_messages` can join a batch's metadata into one array.
_CATEGORY_COLUMNS = _COLUMNS.replace("metadata,", "coalesce(metadata, 'null'),")
_READ_CATEGORY = (
    f"SELECT {_CATEGORY_COLUMNS} FROM get_category_messages("
    "%s::varchar, %s::bigint, %s::bigint, %s::varchar, %s::bigint, %s::bigint)"
)
# A consumer-group member's read, MessageDB's partition computed inline. MessageDB's
# `get_category_messages` filters with `MOD(@hash_64(cardinal_id(stream_name)), size)`:
# three PL/pgSQL calls per row scanned (hash_64 runs a query of its own each time),
# and a member of 4 scans 4,000 rows for 1,000 messages. The expression below computes
# the same value in plain SQL: cardinal_id is the id after the first `-` up to any
# `+`, hash_64 the first 16 hex digits of its MD5 as a signed bigint, and a stream
# without an id (the category's own stream) has no cardinal id and no member.
# The category condition is the one MessageDB's `messages_category` index is built on,
# so the rows can be scanned in global order, stopping at the batch's end. The filter
# sits in a CASE, which PostgreSQL estimates to keep half the rows: it cannot estimate
# the hash, and with its default for an equality (0.5%) it expects the batch never to
# fill and sorts the whole category instead (every row hashed: 200 ms at 20,000
# messages on a busy machine, growing with the category; MessageDB's own function
# does the same).
_CARDINAL_ID = "split_part(substr(stream_name, strpos(stream_name, '-') + 1), '+', 1)"
_MEMBER = f"mod(@(left('x' || md5({_CARDINAL_ID}), 17)::bit(64)::bigint), %s::bigint)"
_READ_CATEGORY_TABLE = (
    "SELECT id::varchar, stream_name, type, position, global_position, data::varchar, "
    "coalesce(metadata::varchar, 'null'), time AT TIME ZONE 'UTC' FROM messages "
    "WHERE category(stream_name::varchar) = %s::varchar AND global_position >= %s::bigint"
    "{condition} ORDER BY global_position LIMIT %s::bigint"
)
# A plain read (no group, no correlation) of the table too: the rows MessageDB's
# function returns, without its PL/pgSQL and the result set it builds (a 100,000-message
# category read 1,000 at a time: about 5.4 instead of 7.0 us a message here).
_READ_CATEGORY_PLAIN = _READ_CATEGORY_TABLE.format(condition="")
_READ_CATEGORY_GROUP = _READ_CATEGORY_TABLE.format(
    condition=f" AND CASE WHEN strpos(stream_name, '-') > 0 THEN {_MEMBER} = %s::bigint"
    "{correlation} ELSE false END"
)
_READ_CATEGORY_MEMBER = _READ_CATEGORY_GROUP.format(correlation="")
# MessageDB's `category(metadata->>'correlationStreamName') = correlation`, inline.
_READ_CATEGORY_MEMBER_CORRELATED = _READ_CATEGORY_GROUP.format(
    correlation=" AND split_part(metadata->>'correlationStreamName', '-', 1) = %s::varchar"
)
_VERSION = "SELECT stream_version(%s::varchar)"
# Every category, in sorted order, by a loose scan of the `messages_category` index
# (one index probe per category: 50 ms for 1,400 categories in 670,000 messages,
# where SELECT DISTINCT reads every row).
_CATEGORY_OF = "category(m.stream_name::varchar)"
_CATEGORIES = (
    f"WITH RECURSIVE c(name) AS ((SELECT {_CATEGORY_OF} FROM messages m ORDER BY 1 LIMIT 1) "
    f"UNION ALL SELECT (SELECT {_CATEGORY_OF} FROM messages m WHERE {_CATEGORY_OF} > c.name "
    "ORDER BY 1 LIMIT 1) FROM c WHERE c.name IS NOT NULL) "
    "SELECT name FROM c WHERE name IS NOT NULL"
)
_FIND_IDS = "SELECT id, stream_name FROM messages WHERE id = ANY(%s::uuid[])"
_WRONG_VERSION = re.compile(
    r"Wrong expected version: (-?\d+) \(Stream: (.*), Stream Version: (-?\d+)\)"
)


class MessageDBEventStore(ClosingStore):
    """Streams in MessageDB, reached through a pool of psycopg connections.

    `uri` is a PostgreSQL URI or conninfo string. Connections set their own
    `search_path=message_store,public`, so a stock MessageDB install works whatever
    the role, and write in READ COMMITTED transactions. The messages of one append
    reach the server in one pipelined round trip. Reads page through a stream
    `batch_size` messages a page, with the query of `get_stream_messages`.

    Connections are made when first needed (at most `max_size` at once; `min_size`
    is accepted for compatibility and has no effect) and bound by `timeout` seconds,
    both to connect and to wait for a busy pool. Raises `ConfigurationError` for a
    URI that cannot be read. Operations raise `EventStoreError` when the database is
    out of reach, saying why, and `CommitOutcomeUnknownError` when a commit's
    connection was lost before its outcome was known. A password in `uri` never
    appears in an error, a log line or a local variable of a frame on a traceback.

    `read_uri` names a streaming replica of the same database (a pool of its own, of
    `max_size` connections): category reads go there, and stream reads when asked
    for through `replica_reads()`; writes and whatever a write depends on stay on
    the primary (the rule: `aggregen.runtime.replica`). Its password is kept as
    secret as `uri`'s.
    """

    def __init__(
        self,
        uri: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        batch_size: int = 1000,
        timeout: float = 10.0,
        read_uri: str | None = None,
    ) -> None:
        self._secrets = uri_secrets(uri) + uri_secrets(read_uri or "")
        conninfo, read_conninfo, problem = _store_conninfo(uri, read_uri, timeout, self._redact)
        # Error reporters show the locals of every frame on a traceback: from here on
        # no local holds a URI (the connection strings live in the pools only).
        uri = read_uri = ""
        if max_size < 1:
            conninfo = read_conninfo = None
            problem = f"max_size must be at least 1, not {max_size}"
        if conninfo is None:
            raise ConfigurationError(problem)
        self._batch_size = batch_size
        self._timeout = timeout
        pool = functools.partial(ConnectionPool, max_size=max_size, timeout=timeout)
        self._pool = pool(conninfo)
        """The primary's connections."""
        self._routes = Routes.of(self._pool, None if read_conninfo is None else pool(read_conninfo))
        del conninfo, read_conninfo

    def close(self) -> None:
        """Close every connection (those in use when they are given back).

        A view from `replica_reads()` owns no connections: closing it does nothing.
        """
        for pool in self._routes.owned:
            pool.close()

    def replica_reads(self) -> MessageDBEventStore:
        """A read-only view of this store whose reads all go to the replica.

        Without a `read_uri`, its reads go to the primary. It shares this store's
        connections. `append` on it raises `EventStoreError`: write through the store.
        """
        view = copy.copy(self)
        view._routes = self._routes.replica_reads()
        return view

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
        that cannot be made raises `ValueError` (id not a UUID), `TypeError` (data
        not JSON-ready) or `EventStoreError` (a NUL character); no COMMIT goes out
        then, and nothing is stored. It is raised even when the server refused an
        earlier message of the append, as the other stores raise it.
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
            parameters = _parameters(ordered)
            failure: Exception | None = None
            try:
                with conn.pipeline():
                    try:
                        cursor.execute(_BEGIN)
                        cursor.executemany(_WRITE, parameters)
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
                if isinstance(failure, psycopg.Error):
                    # The server refused a write while later messages were still to be
                    # made: one of them that cannot be made is the error, as on the
                    # other stores, which make every message first (not a race).
                    for _ in parameters:
                        pass
                raise failure

        try:
            self._run(write_all, _writes(self._routes), commit=True)
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

        return self._run(find, _writes(self._routes)) == wanted

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time.

        Raises `StreamDataError` for a stored row that is not a message (see `_messages`).
        """
        batch = self._batch_size
        position = max(position, 0)
        while True:
            # One row more than a page: a stream that fills its last page exactly is
            # known to end there without another round trip.
            rows = self._fetch(_READ, (stream_name, position, batch + 1))
            if len(rows) <= batch:
                yield from _decoded(stream_name, rows)
                return
            yield from _decoded(stream_name, rows[:batch])
            position = rows[batch][2]

    def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages from a global position; see `EventStore`."""
        query, params, prepare = _category_read(
            category, position, batch_size, consumer_group, correlation
        )
        rows = self._run(
            lambda conn: conn.execute(query, params, prepare=prepare, binary=True).fetchall(),
            self._routes.categories,
        )
        return _category_messages(rows)

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        rows = self._fetch(_READ_LAST, (stream_name,))
        return next(_messages(rows), None)

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        rows = self._fetch(_VERSION, (stream_name,))
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    def categories(self) -> list[str]:
        """Every category with a message, sorted (see `aggregen.runtime.copy.CategoryListing`).

        Read where category reads go (the replica, if any); raises `EventStoreError`
        when the database is out of reach.
        """
        rows = self._run(lambda conn: conn.execute(_CATEGORIES).fetchall(), self._routes.categories)
        return sorted(str(name) for (name,) in rows)  # Python's order, not the collation's

    def _fetch(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(query, params).fetchall(), self._routes.streams)

    def _run(
        self,
        operation: Callable[[psycopg.Connection[Any]], T],
        pool: ConnectionPool,
        *,
        commit: bool = False,
    ) -> T:
        """Run `operation` on a connection of `pool`, translating errors.

        When the connection turns out to be lost (the server restarted, the backend
        was terminated), every idle connection is dropped too and the operation runs
        once more on a new connection: every operation here is safe to repeat. When
        that fails as well, a `commit` raises `CommitOutcomeUnknownError`, anything
        else `EventStoreError`. An interrupt (`KeyboardInterrupt`, any
        `BaseException`) closes the connection, whose state is then unknown, and
        leaves the pool ready for the next call.
        """
        lost: str | None = None
        for attempt in (1, 2):
            lease = self._lease(pool, lost, commit)
            conn = lease.conn
            assert conn is not None
            try:
                result = operation(conn)
            except psycopg.Error as error:
                if not _connection_lost(error, conn):
                    pool.release(lease)
                    raise _translate(error, self._redact) from error
                pool.discard(lease)
                pool.discard_idle()
                lost = self._redact(_one_line(error))
                if attempt == 2:
                    break
                continue
            except Exception:  # a message that could not be made: rolled back already
                pool.release(lease)
                raise
            except BaseException:
                pool.discard(lease)
                raise
            pool.release(lease)
            return result
        # Raised outside the handler: the driver's frames, which hold the connection
        # string, stay off the traceback.
        raise _lost_error(f"the database connection was lost twice: {lost}", commit)

    def _lease(self, pool: ConnectionPool, lost: str | None, commit: bool) -> Lease:
        """A connection of `pool`, or the `EventStoreError` that says why there is none."""
        try:
            return pool.acquire()
        except (PoolBusy, PoolClosed) as error:
            problem = str(error)
        except psycopg.Error as error:
            problem = "no database connection could be made: " + self._redact(_one_line(error))
        if lost is None:
            raise EventStoreError(problem)
        raise _lost_error(f"the database connection was lost ({lost}), then {problem}", commit)

    def _redact(self, text: str) -> str:
        return redact(text, *self._secrets)


def _writes(routes: Routes[P]) -> P:
    """The primary's pool; raises `EventStoreError` in a view of the replica."""
    if routes.writes is None:
        raise EventStoreError(
            "this view of the store reads from its replica only: append through the store"
        )
    return routes.writes


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction before the connection goes back to the pool."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()


def _messages(rows: Iterable[tuple[Any, ...]]) -> Iterator[RecordedMessage]:
    """Rows of `_COLUMNS` as messages; raises `StreamDataError` for a row that is not one.

    Data must be a JSON object and metadata an object or null: rows that other
    clients or hands wrote may hold anything jsonb holds, or SQL NULL.
    """
    loads = orjson.loads
    new_tuple = tuple.__new__  # the named tuple without its Python-level __new__
    stream_name, position = "", -1
    raw_data = raw_metadata = None
    try:
        for (
            message_id,
            stream_name,
            type_name,
            position,
            global_position,
            raw_data,
            raw_metadata,
            time,
        ) in rows:
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


_OBJECT = frozenset({dict})
_OBJECT_OR_NULL = frozenset({dict, type(None)})


def _decoded(stream_name: str, rows: list[tuple[Any, ...]]) -> Iterable[RecordedMessage]:
    """Rows of `_READ` (a page of `stream_name`) as messages, as `_messages` makes them.

    The page is decoded at once (see `_parsed`) and the messages built without a
    Python loop: a third of a page's decoding time. Any surprise (SQL NULL data, JSON
    orjson refuses, a value that is not an object, a time `datetime` cannot hold)
    sends the page through `_row_by_row`, which raises the `StreamDataError` naming
    the row.
    """
    if not rows:
        return ()
    ids, types, positions, global_positions, raw_data, raw_metadata, times = zip(*rows, strict=True)
    parsed = _parsed(raw_data, raw_metadata)
    if parsed is not None:
        try:
            moments = list(map(_read_time, times))
        except (TypeError, ValueError):  # 'infinity', a year beyond 9999
            pass
        else:
            return _built(
                zip(ids, repeat(stream_name), types, positions, global_positions, *parsed, moments)
            )
    return _messages(_row_by_row(stream_name, rows))  # lazily, as far as the bad row


def _category_messages(rows: list[tuple[Any, ...]]) -> list[RecordedMessage]:
    """Rows of a category read (`_CATEGORY_COLUMNS`) as messages, as `_messages` makes them.

    Decoded as `_decoded` decodes a stream's page; a batch with any surprise goes
    through `_messages` row by row, which raises the `StreamDataError` naming the
    row's stream and position.
    """
    if not rows:
        return []
    ids, streams, types, positions, global_positions, raw_data, raw_metadata, times = zip(
        *rows, strict=True
    )
    parsed = _parsed(raw_data, raw_metadata)
    if parsed is None:
        return list(_messages(rows))
    return _built(
        zip(ids, streams, types, positions, global_positions, *parsed, times, strict=True)
    )


def _parsed(
    raw_data: tuple[Any, ...], raw_metadata: tuple[Any, ...]
) -> tuple[list[Any], list[Any]] | None:
    """The data and the metadata of a batch's rows, or None when any row is unusual.

    Each is decoded with one JSON parse of the rows' texts joined into an array, and
    their types checked in one pass. None for SQL NULL data or metadata, JSON orjson
    refuses, data that is not an object or metadata that is neither an object nor
    null. Each text is one JSON value as PostgreSQL prints jsonb, so joining them
    cannot change what a row holds.
    """
    try:
        data = orjson.loads("[" + ",".join(raw_data) + "]")
        metadata = orjson.loads("[" + ",".join(raw_metadata) + "]")
    except (TypeError, ValueError):  # SQL NULL (None), JSON orjson refuses
        return None
    if (
        len(data) == len(raw_data)
        and len(metadata) == len(raw_metadata)
        and _OBJECT.issuperset(map(type, data))
        and _OBJECT_OR_NULL.issuperset(map(type, metadata))
    ):
        return data, metadata
    return None


def _built(fields: Iterable[tuple[Any, ...]]) -> list[RecordedMessage]:
    """Messages of their fields: the named tuple without its Python-level __new__, in C."""
    return list(map(tuple.__new__, repeat(RecordedMessage), fields))


_read_time = datetime.datetime.fromisoformat
"""A `time` of `_READ` as the aware datetime it is (ISO text ending in `+00`)."""


def _row_by_row(stream_name: str, rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows of `_READ` as rows of `_COLUMNS`, for `_messages`, as it reads them.

    Raises `StreamDataError` for a time `datetime` cannot hold (`infinity`, a year
    beyond 9999 or before 1).
    """
    for message_id, type_name, position, global_position, data, metadata, time in rows:
        try:
            moment = _read_time(time)
        except (TypeError, ValueError):
            raise StreamDataError(
                stream_name, position, f"stored time {time!r} is not a readable timestamp"
            ) from None
        yield message_id, stream_name, type_name, position, global_position, data, metadata, moment


def _category_read(
    category: str,
    position: int,
    batch_size: int,
    group: ConsumerGroup | None,
    correlation: str | None,
) -> tuple[str, tuple[Any, ...], bool | None]:
    """The SQL, parameters and `prepare` flag of one category read, for both stores.

    Results are to be loaded in binary (`time` and the positions without parsing
    text). A member's read is never a prepared statement: after five runs PostgreSQL
    may settle on a generic plan, which sorts the whole category (a second at 100,000
    messages); an unnamed statement is planned for its values every time. Raises
    `StreamNameError` or `ValueError` for arguments that cannot be read.
    """
    check_category(category)
    check_batch_size(batch_size)
    if correlation is not None:
        check_category(correlation, "correlation category")
    query, params = _category_query(category, position, batch_size, group, correlation)
    return query, params, False if group is not None else None


def _category_query(
    category: str,
    position: int,
    batch_size: int,
    group: ConsumerGroup | None,
    correlation: str | None,
) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of one category read (see `_READ_CATEGORY_GROUP`).

    A plain read and a member's read select from MessageDB's `messages` table as its
    `get_category_messages` does (a member's partition computed inline); a correlated
    read without a group calls that function.
    """
    if group is None and correlation is None:
        return _READ_CATEGORY_PLAIN, (category, position, batch_size)
    if group is None:
        return _READ_CATEGORY, (category, position, batch_size, correlation, None, None)
    if correlation is None:
        return _READ_CATEGORY_MEMBER, (category, position, group.size, group.member, batch_size)
    return _READ_CATEGORY_MEMBER_CORRELATED, (
        category,
        position,
        group.size,
        group.member,
        correlation,
        batch_size,
    )


def _category(write: StreamWrite) -> str:
    return write.category


def _parameters(writes: Sequence[StreamWrite]) -> Iterator[tuple[Any, ...]]:
    """The `write_message` parameters of each message, made as they are consumed.

    Raises `ValueError` for a message id that is not a UUID, `TypeError` for data or
    metadata that is not JSON-ready, `EventStoreError` for a NUL character, which
    PostgreSQL's JSON cannot hold (`json_text`): refused on the client, as the
    other stores refuse it, so that an append whose later message holds one raises
    this error rather than the conflict of an earlier message, as they do.
    """
    dumps = json_text
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


def _connection_lost(
    error: psycopg.Error, conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]
) -> bool:
    """Whether `error` means the connection broke (rather than, say, a version conflict).

    An answer of the server (a SQLSTATE outside classes 08 and 57P) is never a lost
    connection, even when the connection broke just after it. Otherwise a connection
    that is broken or closed, and an operational error of the driver's own (no
    SQLSTATE, e.g. "cannot exit pipeline mode while busy") count as lost.
    """
    sqlstate = error.sqlstate
    if sqlstate is not None:
        return sqlstate.startswith(("08", "57P"))
    return conn.broken or conn.closed or isinstance(error, psycopg.OperationalError)


def _lost_error(problem: str, commit: bool) -> EventStoreError:
    """The error for an operation whose connection was lost, saying what is known."""
    if not commit:
        return EventStoreError(problem)
    return CommitOutcomeUnknownError(
        f"{problem}; whether the commit was stored is unknown. Retrying the same unit of "
        "work is safe: appends are idempotent by message id, so nothing is stored twice"
    )


def _one_line(error: BaseException) -> str:
    """The error's text on one line (libpq adds hints on lines of their own)."""
    return " ".join(str(error).split())


def _store_conninfo(
    uri: str, read_uri: str | None, timeout: float, redact_text: Callable[[str], str]
) -> tuple[str | None, str | None, str]:
    """The connection strings of the primary and of the replica (None without `read_uri`).

    When either URI cannot be read: None, None and the problem, naming the URI that
    is wrong but quoting neither. Never raises (see `_session_conninfo`).
    """
    conninfo, problem = _session_conninfo(uri, timeout, redact_text)
    uri = ""
    if conninfo is None:
        return None, None, f"invalid database URI: {problem}"
    if not read_uri:
        return conninfo, None, ""
    read_conninfo, problem = _session_conninfo(read_uri, timeout, redact_text)
    read_uri = ""
    if read_conninfo is None:
        return None, None, f"invalid read URI: {problem}"
    return conninfo, read_conninfo, ""


def _session_conninfo(
    uri: str, timeout: float, redact_text: Callable[[str], str]
) -> tuple[str | None, str]:
    """The connection string for `uri` with the session options, or None and the problem.

    Never raises, so that no traceback goes through a frame holding the URI.
    """
    problem = userinfo_problem(uri)
    if problem:
        return None, problem
    head, sep, rest = uri.partition("://")
    if sep and head.lower() in ("postgresql", "postgres"):
        uri = f"{head.lower()}{sep}{rest}"  # libpq matches the scheme in lower case only
    try:
        params = conninfo_to_dict(uri)
    except psycopg.Error as error:
        return None, redact_text(_one_line(error))
    options = str(params.get("options") or "")
    params["options"] = f"{options} {_SESSION_OPTIONS}".strip()
    params.setdefault("connect_timeout", str(max(2, math.ceil(timeout))))
    return make_conninfo("", **params), ""


def _translate(error: psycopg.Error, redact_text: Any) -> Exception:
    """The aggregen error for a psycopg error (the one place database errors are mapped)."""
    text = str(error)
    if isinstance(error, pg_errors.RaiseException):
        match = _WRONG_VERSION.search(text)
        if match:
            expected, stream, actual = match.groups()
            return version_conflict(stream, int(expected), int(actual))
    if isinstance(error, pg_errors.UniqueViolation):
        match = re.search(
            r"\(id\)=\(([0-9a-fA-F-]+)\)", getattr(error.diag, "message_detail", "") or ""
        )
        return DuplicateMessageError(match.group(1) if match else "(unknown)")
    if isinstance(error, pg_errors.UndefinedFunction | pg_errors.UndefinedTable):
        # The store's functions and its one table are MessageDB's: missing, it is not there
        # (a plain database says `relation "messages" does not exist` to a category read).
        return EventStoreError(
            "MessageDB is not installed in this database (install it with MessageDB's "
            "installer, or scripts/messagedb-setup.sh in aggregen's repository): "
            + redact_text(text.splitlines()[0] if text else type(error).__name__)
        )
    return EventStoreError(f"event store failed: {redact_text(_server_message(error))}")


def _server_message(error: psycopg.Error) -> str:
    """The server's message and detail on one line, as `primary (detail)`.

    Never the error's CONTEXT: PostgreSQL quotes statement parameters there, which
    are event data.
    """
    primary = getattr(error.diag, "message_primary", None)
    if not primary:
        return _one_line(error)
    detail = (getattr(error.diag, "message_detail", None) or "").strip().rstrip(".")
    return f"{primary} ({' '.join(detail.split())})" if detail else primary
