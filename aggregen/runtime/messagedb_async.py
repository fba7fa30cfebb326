"""`AsyncMessageDBEventStore`: MessageDB for asyncio, through psycopg's async connections.

Only the I/O differs from `MessageDBEventStore`: the statements, the parameters of
each `write_message`, the row decoding, the error translation and the retry rule
are the synchronous store's own functions, so the two stores cannot drift. The same
conformance suites run against both.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import psycopg

from .category import ConsumerGroup, check_batch_size
from .coalescing import Coalescer, Outcome, Waiting
from .errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    DuplicateMessageError,
    EventStoreError,
    ExpectedVersionError,
)
from .message import RecordedMessage, StreamWrite, check_message_id
from .messagedb import (
    _CATEGORIES,
    _FIND_IDS,
    _READ,
    _READ_LAST,
    _VERSION,
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
from .messagedb_async_batch import ALONE, Unit, read_pages, write_alone, write_units
from .messagedb_async_pool import AsyncConnectionPool
from .messagedb_pool import PoolBusy, PoolClosed
from .redaction import redact, uri_secrets
from .replica import Routes
from .store import AsyncClosingStore

__all__ = ["AsyncMessageDBEventStore"]

T = TypeVar("T")
_Conn = psycopg.AsyncConnection[Any]
_Page = tuple[str, int]
"""A page to read: the stream and the position it starts at."""
_Rows = list[tuple[Any, ...]]

WRITE_BATCHES = 1
"""Write batches in flight at once: one commits while the next one fills."""
READ_BATCHES = 2
"""Read batches in flight at once."""
BATCH_LIMIT = 64
"""Most units of work (or pages) in one batch. A transaction of more savepoints than
PostgreSQL caches per backend (64) would slow every other session's snapshots."""


class AsyncMessageDBEventStore(AsyncClosingStore):
    """Streams in MessageDB for asyncio; see `MessageDBEventStore` for the semantics.

    Connections are made when first needed, at most `max_size` at once, and bound by
    `timeout` seconds, to connect and to wait for a busy pool. A task cancelled in
    the middle of an operation of its own closes its connection (its state is
    unknown) and leaves the pool ready; a cancelled append stores all of its messages
    or none (often all: the server may have the whole commit already), and appending
    the same messages again is safe, as after `CommitOutcomeUnknownError`.
    Raises `ConfigurationError` for a URI that cannot be read; operations raise what
    the synchronous store's raise. Use one store per event loop. `read_uri` names a
    streaming replica, used as `MessageDBEventStore` uses it.

    With `coalesce` (the default), what concurrent tasks send at the same time shares
    round trips: the appends made while a commit is in flight go out together, in
    one transaction, each unit atomic on its own (a refused unit raises in
    its own task only; the others commit), and the stream pages asked for while a
    read is in flight go out in one query. One commit, and one wait for the disk,
    then serves many tasks; a task alone waits for nobody. A task cancelled before
    its batch goes out is left out of it; after, the batch goes on for the others
    (and is cut off, its connection closed, when all its tasks are cancelled). A
    batch that fails as a whole (a deadlock, say) commits each unit on its own. See
    docs/async.md, "Coalescing".
    """

    def __init__(
        self,
        uri: str,
        *,
        max_size: int = 8,
        batch_size: int = 1000,
        timeout: float = 10.0,
        read_uri: str | None = None,
        coalesce: bool = True,
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
        self._coalesce = coalesce
        self._readers: dict[int, Coalescer[_Page, _Rows]] = {}
        """Each pool's read batches (by the pool's id; shared with `replica_reads` views)."""
        self._committer: Coalescer[Unit, object] = Coalescer(
            self._write_batch,
            concurrency=WRITE_BATCHES,
            limit=BATCH_LIMIT,
            interrupted=lambda: CommitOutcomeUnknownError(
                "the commit's batch was cancelled (the event loop is shutting down?); "
                "whether it was stored is unknown"
            ),
        )

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
        """Store every write or none, in one transaction; see `MessageDBEventStore.append`.

        The messages are made (ids checked, data serialized) before anything is sent:
        one that cannot be made raises `ValueError` or `TypeError` in this task, and
        nothing is stored. With `coalesce`, the append may share its transaction with
        other tasks' appends, each atomic on its own: what it raises is its own.
        """
        ordered = sorted(writes, key=_category) if len(writes) > 1 else writes
        if not any(write.messages for write in ordered):
            return
        unit = Unit(ordered, list(_parameters(ordered)))
        pool = _writes(self._routes)

        async def alone() -> None:
            await self._run(lambda conn: write_alone(conn, unit), pool, commit=True)

        try:
            # Coalescing: on its own when taking a turn, else in a batch; ALONE when that
            # batch failed as a whole.
            if not self._coalesce or await self._committer.through(unit, alone) is ALONE:
                await alone()
        except (ExpectedVersionError, DuplicateMessageError):
            if not await self._all_stored(ordered):
                raise

    async def _write_batch(self, batch: list[Waiting[Unit, object]]) -> list[Outcome[Unit, object]]:
        """Commit the units of `batch` whose tasks still wait, in one transaction.

        A unit alone is committed as without coalescing. Errors of a unit are
        translated for its task; what ends the whole batch is raised (to every task)
        by `_run`, after its retry on a new connection when the connection was lost.
        """
        sent: list[Waiting[Unit, object]] = []

        async def write(conn: _Conn) -> list[object]:
            sent[:] = [waiting for waiting in batch if not waiting.gone()]
            if not sent:
                return []
            if len(sent) == 1:
                await write_alone(conn, sent[0].item)
                return [None]
            return list(await write_units(conn, [waiting.item for waiting in sent]))

        outcomes = await self._run(write, _writes(self._routes), commit=True)
        return [
            (waiting, self._translated(outcome) if isinstance(outcome, psycopg.Error) else outcome)
            for waiting, outcome in zip(sent, outcomes, strict=True)
        ]

    def _translated(self, error: psycopg.Error) -> Exception:
        """The aggregen error for a unit's own error, caused by it."""
        translated = _translate(error, self._redact)
        translated.__cause__ = error
        return translated

    async def _all_stored(self, writes: Sequence[StreamWrite]) -> bool:
        """Whether every message (id, stream) of an append is stored already."""
        wanted = {(check_message_id(m.id), w.stream_name) for w in writes for m in w.messages}

        async def find(conn: _Conn) -> set[tuple[str, str]]:
            cursor = await conn.execute(_FIND_IDS, ([message_id for message_id, _ in wanted],))
            return {(str(message_id), stream) for message_id, stream in await cursor.fetchall()}

        return await self._run(find, _writes(self._routes)) == wanted

    async def read(self, stream_name: str, position: int = 0) -> AsyncIterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time.

        With `coalesce`, a page may be read in one query with other tasks' pages.
        """
        batch = self._batch_size
        position = max(position, 0)
        pool = self._routes.streams
        while True:
            page = functools.partial(self._fetch, pool, _READ, (stream_name, position, batch + 1))
            if self._coalesce:
                rows = await self._reader(pool).through((stream_name, position), page)
            else:
                rows = await page()
            if len(rows) <= batch:
                for message in _decoded(stream_name, rows):
                    yield message
                return
            for message in _decoded(stream_name, rows[:batch]):
                yield message
            position = rows[batch][2]

    def _reader(self, pool: AsyncConnectionPool) -> Coalescer[_Page, _Rows]:
        """The coalescer of `pool`'s stream reads."""
        reader = self._readers.get(id(pool))
        if reader is None:

            async def read_batch(batch: list[Waiting[_Page, _Rows]]) -> list[Outcome[_Page, _Rows]]:
                sent: list[Waiting[_Page, _Rows]] = []

                async def fetch(conn: _Conn) -> list[_Rows]:
                    sent[:] = [waiting for waiting in batch if not waiting.gone()]
                    pages = [waiting.item for waiting in sent]
                    return await read_pages(conn, pages, self._batch_size + 1)

                found = await self._run(fetch, pool)
                return list(zip(sent, found, strict=True))

            reader = self._readers[id(pool)] = Coalescer(
                read_batch,
                concurrency=READ_BATCHES,
                limit=BATCH_LIMIT,
                interrupted=lambda: EventStoreError("the read's batch was cancelled"),
            )
        return reader

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

    async def categories(self) -> list[str]:
        """Every category with a message, sorted; see `MessageDBEventStore.categories`
        (read where category reads go: the replica, if any)."""
        rows = await self._fetch(self._routes.categories, _CATEGORIES, ())
        return sorted(str(name) for (name,) in rows)  # Python's order, not the collation's

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
