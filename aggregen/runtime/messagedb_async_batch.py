"""What the async MessageDB store sends for a batch: many stream pages, many commits.

`read_pages` reads a page of each of several streams in one query; `write_units`
commits several units of work in one transaction and one round trip, and when the
server refuses a unit (a wrong expected version, a duplicate message id) sends them
again, each in a SAVEPOINT of its own, so that the refused unit is rolled back alone
and the others commit. See
`AsyncMessageDBEventStore` for when batches are made, and docs/async.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg

from .message import StreamWrite
from .messagedb import _BEGIN, _COMMIT, _READ, _WRITE

__all__ = ["ALONE", "Unit", "read_pages", "write_alone", "write_units"]

_Conn = psycopg.AsyncConnection[Any]

# A page of each stream, as `_READ` reads one: the rows of each (stream, position) of
# the arrays, numbered by the stream's place in them (from 1), in order.
_READ_PAGES = (
    "SELECT s.i, m.id::varchar, m.type, m.position, m.global_position, m.data::varchar, "
    "coalesce(m.metadata::varchar, 'null'), (m.time AT TIME ZONE 'UTC')::text "
    "FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS s(name, start, i) "
    "CROSS JOIN LATERAL (SELECT * FROM messages WHERE stream_name = s.name "
    "AND position >= s.start ORDER BY position LIMIT %s::bigint) m ORDER BY s.i, m.position"
)
# MessageDB's write lock of a category (what `write_message` takes, by the category's
# name: a category is its own category), taken for every category of a batch at its
# start, in sorted order, as the sync store's commits take theirs: two batches, or a
# batch and a commit, never wait for each other in opposite orders.
_LOCK = "SELECT acquire_lock(%s::varchar)"
# Every message of a batch in one statement: `write_message` for each row of the
# arrays, in their order (a function scan returns its rows in order). A third of the
# server's time per message of one statement each inside a savepoint.
_WRITE_ALL = (
    "SELECT write_message(m.id, m.stream, m.type, m.data, m.metadata, m.expected) FROM unnest("
    "%s::varchar[], %s::varchar[], %s::varchar[], %s::jsonb[], %s::jsonb[], %s::bigint[]) "
    "AS m(id, stream, type, data, metadata, expected)"
)
_SAVEPOINT = "SAVEPOINT unit"
_RELEASE = "RELEASE SAVEPOINT unit"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT unit"

# SQLSTATE classes of errors that belong to the unit whose statement raised them: a
# MessageDB check (P0001: a wrong expected version), an integrity violation (23: a
# duplicate message id), a data exception (22). Any other error (a lost connection,
# a deadlock, a serialization failure, a cancelled statement) ends the whole batch.
_UNIT_ERRORS = ("P0", "22", "23")


class _Alone:
    """The outcome of a unit whose batch failed as a whole: commit it on its own."""

    def __repr__(self) -> str:
        return "ALONE"


ALONE = _Alone()


@dataclasses.dataclass(frozen=True, slots=True)
class Unit:
    """One append: its writes (categories in sorted order) and each message's parameters."""

    writes: Sequence[StreamWrite]
    parameters: list[tuple[Any, ...]]


async def read_pages(
    conn: _Conn, pages: Sequence[tuple[str, int]], limit: int
) -> list[list[tuple[Any, ...]]]:
    """Up to `limit` rows of `_READ` for each (stream, position), in one query."""
    if not pages:
        return []
    if len(pages) == 1:
        stream, position = pages[0]
        cursor = await conn.execute(_READ, (stream, position, limit))
        return [await cursor.fetchall()]
    streams = [stream for stream, _ in pages]
    cursor = await conn.execute(_READ_PAGES, (streams, [p for _, p in pages], limit))
    found: list[list[tuple[Any, ...]]] = [[] for _ in pages]
    for row in await cursor.fetchall():
        found[row[0] - 1].append(row[1:])
    return found


async def write_alone(conn: _Conn, unit: Unit) -> None:
    """Commit one unit in a transaction of its own (one statement: no BEGIN), one round trip.

    Raises the first `psycopg.Error`; the transaction is rolled back then.
    """
    if len(unit.parameters) == 1:  # one statement is a transaction of its own
        await conn.execute(_WRITE, unit.parameters[0])
        return
    cursor = conn.cursor()
    failure: psycopg.Error | None = None
    try:
        async with conn.pipeline():
            try:
                await cursor.execute(_BEGIN)
                await cursor.executemany(_WRITE, unit.parameters)
                await cursor.execute(_COMMIT)
            except psycopg.Error as error:
                failure = error
    except psycopg.Error as error:
        failure = failure or error
    if failure is not None:
        await roll_back(conn)
        raise failure


async def write_units(conn: _Conn, units: Sequence[Unit]) -> list[psycopg.Error | _Alone | None]:
    """Commit `units` in one transaction; each unit's outcome.

    An outcome is None (stored), the server's error that refused the unit (nothing
    of it stored), or `ALONE`: the batch failed as a whole (a deadlock, say) and was
    rolled back; the unit is to be committed on its own. Raises a lost connection's
    `psycopg.Error` (nothing, or everything, was committed: the caller may send the
    batch again).

    First every message of every unit goes out in one `write_message` statement
    (`_WRITE_ALL`), between BEGIN and COMMIT, in one round trip: the cheapest form
    for the server, which runs the batch holding the category's lock. When a unit is
    refused, that transaction is rolled back and the units go out again, each in a
    savepoint of its own (`_write_each`), so that only the refused ones fail.
    """
    categories = sorted({write.category for unit in units for write in unit.writes})
    cursor = conn.cursor()
    failure: psycopg.Error | None = None
    try:
        async with conn.pipeline():
            try:
                await _begin(cursor, categories)
                await cursor.execute(_WRITE_ALL, _columns(units))
                await cursor.execute(_COMMIT, prepare=False)
            except psycopg.Error as error:
                failure = error
    except psycopg.Error as error:
        failure = failure or error
    if failure is None:
        return [None] * len(units)
    sqlstate = _whole_batch(conn, failure)
    await roll_back(conn)
    if sqlstate.startswith(_UNIT_ERRORS):
        return await _write_each(conn, units, categories)
    return [ALONE] * len(units)


async def _write_each(
    conn: _Conn, units: Sequence[Unit], categories: list[str]
) -> list[psycopg.Error | _Alone | None]:
    """`write_units` with each unit in a savepoint: a refused unit fails alone.

    BEGIN, every unit and COMMIT go out in one pipelined round trip; a refused unit
    ends the pipeline's work there, and one more round trip rolls back to its
    savepoint and sends the units after it. Nothing here is sent as a prepared
    statement: psycopg's cache of prepared statements went wrong when a refused unit
    aborted the rest of a pipeline (a statement it prepared there was missing in the
    next round trip).
    """
    outcomes: list[psycopg.Error | _Alone | None] = []
    while True:
        rest = units[len(outcomes) :]
        head, work, tail = conn.cursor(), conn.cursor(), conn.cursor()
        marks = [conn.cursor() for _ in rest]  # a unit's RELEASE: its result says it was stored
        failure: psycopg.Error | None = None
        try:
            async with conn.pipeline():
                try:
                    if outcomes:  # the unit before `rest` was refused: back to its savepoint
                        await head.execute(_ROLLBACK_TO, prepare=False)
                    else:
                        await _begin(head, categories)
                    for unit, mark in zip(rest, marks, strict=True):
                        await work.execute(_SAVEPOINT, prepare=False)
                        for parameters in unit.parameters:
                            await work.execute(_WRITE, parameters, prepare=False)
                        await mark.execute(_RELEASE, prepare=False)
                    await tail.execute(_COMMIT, prepare=False)
                except psycopg.Error as error:
                    failure = error
        except psycopg.Error as error:
            failure = failure or error
        if failure is None:
            return outcomes + [None] * len(rest)
        stored = _released(marks)
        sqlstate = _whole_batch(conn, failure)
        if stored == len(rest) or not sqlstate.startswith(_UNIT_ERRORS):
            await roll_back(conn)
            return [ALONE] * len(units)
        outcomes += [None] * stored + [failure]


async def _begin(cursor: psycopg.AsyncCursor[Any], categories: list[str]) -> None:
    """BEGIN, and with more than one category, each category's write lock in order."""
    await cursor.execute(_BEGIN, prepare=False)
    if len(categories) > 1:
        for name in categories:
            await cursor.execute(_LOCK, (name,), prepare=False)


def _whole_batch(conn: _Conn, failure: psycopg.Error) -> str:
    """The SQLSTATE of a batch's failure; raises it when the connection was lost."""
    sqlstate = failure.sqlstate or ""
    if conn.closed or conn.broken or not sqlstate or sqlstate.startswith(("08", "57P")):
        raise failure
    return sqlstate


def _columns(units: Sequence[Unit]) -> tuple[list[Any], ...]:
    """The `write_message` parameters of every message of `units`, as six arrays."""
    rows = [parameters for unit in units for parameters in unit.parameters]
    return tuple(list(column) for column in zip(*rows, strict=True))


def _released(marks: list[psycopg.AsyncCursor[Any]]) -> int:
    """How many units in a row, from the first, were released (their savepoint ended)."""
    count = 0
    for mark in marks:
        if mark.pgresult is None:
            break
        count += 1
    return count


async def roll_back(conn: _Conn) -> None:
    """End a failed transaction so that the connection can go back to the pool."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            await conn.rollback()
