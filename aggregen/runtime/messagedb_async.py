"""`AsyncMessageDBEventStore`: MessageDB for asyncio, through psycopg's async connections.

Only the I/O differs from `MessageDBEventStore`: the statements, the parameters of
each `write_message`, the row decoding, the error translation and the retry rule
are the synchronous store's own functions, so the two stores cannot drift. The same
conformance suites run against both.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg

from .category import ConsumerGroup, check_batch_size
from .errors import ConfigurationError, DuplicateMessageError, EventStoreError, ExpectedVersionError
from .message import RecordedMessage, StreamWrite, check_message_id
from .messagedb import (
    _BEGIN,
    _COMMIT,
    _FIND_IDS,
    _READ,
    _READ_LAST,
    _VERSION,
    _WRITE,
    _category,
    _category_messages,
    _category_read,
    _connection_lost,
    _decoded,
    _lost_error,
    _messages,
    _one_line,
    _parameters,
    _store_conninfo,
    _translate,
    _writes,
)
from .messagedb_async_pool import AsyncConnectionPool
from .messagedb_pool import PoolBusy, PoolClosed
from .redaction import redact, uri_secrets
from .replica import Routes
from .store import AsyncClosingStore

__all__ = ["AsyncMessageDBEventStore"]

T = TypeVar("T")
_Conn = psycopg.AsyncConnection[Any]


class AsyncMessageDBEventStore(AsyncClosingStore):
    """Streams in MessageDB for asyncio; see `MessageDBEventStore` for the semantics.

    Connections are made when first needed, at most `max_size` at once, and bound by
    `timeout` seconds, to connect and to wait for a busy pool. A task cancelled in
    the middle of an operation closes its connection (its state is unknown) and
    leaves the pool ready; a cancelled append stores all of its messages or none
    (often all: the server may have the whole commit already), and appending the
    same messages again is safe, as after `CommitOutcomeUnknownError`.
    Raises `ConfigurationError` for a URI that cannot be read; operations raise what
    the synchronous store's raise. Use one store per event loop. `read_uri` names a
    streaming replica, used as `MessageDBEventStore` uses it.
    """

    def __init__(
        self,
        uri: str,
        *,
        max_size: int = 8,
        batch_size: int = 1000,
        timeout: float = 10.0,
        read_uri: str | None = None,
    ) -> None:
        self._secrets = uri_secrets(uri) + uri_secrets(read_uri or "")
        conninfo, read_conninfo, problem = _store_conninfo(uri, read_uri, timeout, self._redact)
        uri = read_uri = ""  # no local of a frame on a traceback holds a URI from here on
        if max_size < 1:
            conninfo = read_conninfo = None
            problem = f"max_size must be at least 1, not {max_size}"
        if conninfo is None:
            raise ConfigurationError(problem)
        self._batch_size = check_batch_size(batch_size)
        pool = functools.partial(AsyncConnectionPool, max_size=max_size, timeout=timeout)
        self._pool = pool(conninfo)
        """The primary's connections."""
        self._routes = Routes.of(self._pool, None if read_conninfo is None else pool(read_conninfo))
        del conninfo, read_conninfo

    async def close(self) -> None:
        """Close every connection (those in use when they are given back); a view's: none."""
        for pool in self._routes.owned:
            await pool.close()

    def replica_reads(self) -> AsyncMessageDBEventStore:
        """A read-only view whose reads all go to the replica; see `MessageDBEventStore`."""
        view = copy.copy(self)
        view._routes = self._routes.replica_reads()
        return view

    async def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none, in one transaction; see `MessageDBEventStore.append`."""
        ordered = sorted(writes, key=_category) if len(writes) > 1 else writes
        count = sum(len(write.messages) for write in ordered)
        if not count:
            return
        single = next(_parameters(ordered)) if count == 1 else None

        async def write_all(conn: _Conn) -> None:
            if single is not None:  # one statement is a transaction of its own
                await conn.execute(_WRITE, single)
                return
            # BEGIN, every write_message and COMMIT go out together: one round trip.
            cursor = conn.cursor()
            failure: Exception | None = None
            try:
                async with conn.pipeline():
                    try:
                        await cursor.execute(_BEGIN)
                        await cursor.executemany(_WRITE, _parameters(ordered))
                        await cursor.execute(_COMMIT)
                    except psycopg.Error as error:
                        failure = error
            except psycopg.Error as error:
                failure = failure or error
            except Exception as error:  # a message that could not be made: no COMMIT went out
                failure = error
            if failure is not None:
                await _roll_back(conn)
                raise failure

        try:
            await self._run(write_all, _writes(self._routes), commit=True)
        except (ExpectedVersionError, DuplicateMessageError):
            if not await self._all_stored(ordered):
                raise

    async def _all_stored(self, writes: Sequence[StreamWrite]) -> bool:
        """Whether every message (id, stream) of an append is stored already."""
        wanted = {(check_message_id(m.id), w.stream_name) for w in writes for m in w.messages}

        async def find(conn: _Conn) -> set[tuple[str, str]]:
            cursor = await conn.execute(_FIND_IDS, ([message_id for message_id, _ in wanted],))
            return {(str(message_id), stream) for message_id, stream in await cursor.fetchall()}

        return await self._run(find, _writes(self._routes)) == wanted

    async def read(self, stream_name: str, position: int = 0) -> AsyncIterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time."""
        batch = self._batch_size
        position = max(position, 0)
        while True:
            rows = await self._fetch(
                self._routes.streams, _READ, (stream_name, position, batch + 1)
            )
            if len(rows) <= batch:
                for message in _decoded(stream_name, rows):
                    yield message
                return
            for message in _decoded(stream_name, rows[:batch]):
                yield message
            position = rows[batch][2]

    async def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages; see `MessageDBEventStore.read_category`."""
        query, params, prepare = _category_read(
            category, position, batch_size, consumer_group, correlation
        )

        async def fetch(conn: _Conn) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query, params, prepare=prepare, binary=True)
            return await cursor.fetchall()

        return _category_messages(await self._run(fetch, self._routes.categories))

    async def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        return next(
            _messages(await self._fetch(self._routes.streams, _READ_LAST, (stream_name,))), None
        )

    async def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        rows = await self._fetch(self._routes.streams, _VERSION, (stream_name,))
        return -1 if not rows or rows[0][0] is None else int(rows[0][0])

    async def _fetch(
        self, pool: AsyncConnectionPool, query: str, params: tuple[Any, ...]
    ) -> list[tuple[Any, ...]]:
        async def fetch(conn: _Conn) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

        return await self._run(fetch, pool)

    async def _run(
        self,
        operation: Callable[[_Conn], Awaitable[T]],
        pool: AsyncConnectionPool,
        *,
        commit: bool = False,
    ) -> T:
        """Run `operation` on a connection of `pool`, translating errors as the sync store does.

        A lost connection drops the idle ones and the operation runs once more on a
        new connection. Cancellation (any `BaseException`) closes the connection.
        """
        lost: str | None = None
        for attempt in (1, 2):
            conn = await self._connection(pool, lost, commit)
            healthy = False  # the release keeps a healthy connection only if it is idle
            try:
                result = await operation(conn)
                healthy = True
                return result
            except psycopg.Error as error:
                if not _connection_lost(error, conn):
                    healthy = True
                    raise _translate(error, self._redact) from error
                pool.discard_idle()
                lost = self._redact(_one_line(error))
                if attempt == 2:
                    break
            except Exception:  # a message that could not be made: rolled back already
                healthy = True
                raise
            finally:
                pool.release(conn, healthy=healthy)
        raise _lost_error(f"the database connection was lost twice: {lost}", commit)

    async def _connection(self, pool: AsyncConnectionPool, lost: str | None, commit: bool) -> _Conn:
        """A connection of `pool`, or the `EventStoreError` that says why there is none."""
        try:
            return await pool.acquire()
        except (PoolBusy, PoolClosed) as error:
            problem = str(error)
        except psycopg.Error as error:
            problem = "no database connection could be made: " + self._redact(_one_line(error))
        if lost is None:
            raise EventStoreError(problem)
        raise _lost_error(f"the database connection was lost ({lost}), then {problem}", commit)

    def _redact(self, text: str) -> str:
        return redact(text, *self._secrets)


async def _roll_back(conn: _Conn) -> None:
    """End a failed transaction so that the connection can go back to the pool."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            await conn.rollback()
