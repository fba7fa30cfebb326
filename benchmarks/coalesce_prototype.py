"""Go/no-go prototype for issue 14's coalescing idea (not a suite; run by hand).

`python -m benchmarks.coalesce_prototype [commands] [pairs] [variant ...]`

Raw psycopg, the SQL the MessageDB stores send. Per command: read a one-event
stream (the store's `_READ`), decode its data, write one message with the expected
version. Two sides, alternating in one process, A B then B A:

- sync: 8 threads, each on its own connection, each command two round trips
  (the read, then an autocommit `write_message`): what `MessageDBEventStore` does.
- async: 64 tasks on one event loop. Reads waiting at the same time go out as one
  query for all their streams; writes waiting at the same time go out as one
  transaction (BEGIN, per unit SAVEPOINT / write_message / RELEASE, COMMIT) in one
  pipelined round trip. `variant` picks how many connections read and write at once
  (`r2w1`: 2 readers, 1 writer) and `nosp` sends the units without savepoints.

Prints each pair's rate ratio (async / sync) and the median.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import psycopg

from aggregen.runtime.messagedb import _READ, _WRITE, _session_conninfo

from .common import MESSAGEDB_URI, paused_gc

TASKS = 64
THREADS = 8
CATEGORY = "protoCoalesce"
_READ_MANY = (
    "SELECT s.i, m.id::varchar, m.type, m.position, m.global_position, m.data::varchar, "
    "coalesce(m.metadata::varchar, 'null'), (m.time AT TIME ZONE 'UTC')::text "
    "FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS s(name, pos, i) "
    "CROSS JOIN LATERAL (SELECT * FROM messages WHERE stream_name = s.name "
    "AND position >= s.pos ORDER BY position LIMIT %s::bigint) m ORDER BY s.i, m.position"
)


def conninfo() -> str:
    uri = MESSAGEDB_URI
    if "unflushed" in sys.argv:  # commits not waiting for the disk: the CPU-bound case
        uri += "?options=-c%20synchronous_commit%3Doff"
    info, problem = _session_conninfo(uri, 10.0, str)
    assert info is not None, problem
    return info


def new_streams(count: int) -> list[str]:
    """`count` streams of one `Registered` event each, written in one transaction."""
    streams = [f"{CATEGORY}-{uuid.uuid4()}" for _ in range(count)]
    with psycopg.connect(conninfo(), autocommit=True) as conn, conn.pipeline():
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.executemany(
            _WRITE,
            [
                (str(uuid.uuid4()), s, "Registered", '{"first_name": "Ada"}', None, -1)
                for s in streams
            ],
        )
        cur.execute("COMMIT")
    return streams


def command_message(rows: Sequence[tuple[Any, ...]], stream: str) -> tuple[Any, ...]:
    data = orjson.loads(rows[-1][4])
    version = rows[-1][2]
    data = {"first_name": data["first_name"] + "!"}
    return (str(uuid.uuid4()), stream, "Renamed", orjson.dumps(data).decode(), None, version)


def sync_side(streams: list[str]) -> float:
    conns = [psycopg.connect(conninfo(), autocommit=True) for _ in range(THREADS)]
    shares = [streams[k::THREADS] for k in range(THREADS)]

    def work(conn: psycopg.Connection[Any], share: list[str]) -> None:
        for stream in share:
            rows = conn.execute(_READ, (stream, 0, 1001)).fetchall()
            conn.execute(_WRITE, command_message(rows, stream))

    threads = [
        threading.Thread(target=work, args=(c, s)) for c, s in zip(conns, shares, strict=False)
    ]
    with paused_gc():
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    for c in conns:
        c.close()
    return wall


class Coalescer:
    """Items submitted while a batch runs go out together in the next one."""

    def __init__(
        self,
        conns: list[psycopg.AsyncConnection[Any]],
        run: Callable[[psycopg.AsyncConnection[Any], list[Any]], Awaitable[list[Any]]],
        limit: int = 64,
    ) -> None:
        self.idle = conns
        self.run = run
        self.limit = limit
        self.pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self.batches: list[int] = []

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.idle:
            asyncio.get_running_loop().create_task(self.drain(self.idle.pop()))
        return await future

    async def drain(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while self.pending:
            batch, self.pending = self.pending[: self.limit], self.pending[self.limit :]
            self.batches.append(len(batch))
            try:
                results = await self.run(conn, [item for item, _ in batch])
            except Exception as error:
                for _, f in batch:
                    f.set_exception(error)
            else:
                for (_, f), r in zip(batch, results, strict=True):
                    f.set_result(r)
        self.idle.append(conn)


async def read_many(conn: psycopg.AsyncConnection[Any], streams: list[str]) -> list[Any]:
    cur = await conn.execute(_READ_MANY, (streams, [0] * len(streams), 1001))
    found: list[list[tuple[Any, ...]]] = [[] for _ in streams]
    for row in await cur.fetchall():
        found[row[0] - 1].append(row[1:])
    return found


def write_many(savepoints: bool) -> Any:
    async def write(conn: psycopg.AsyncConnection[Any], units: list[Any]) -> list[Any]:
        cur = conn.cursor()
        async with conn.pipeline():
            await cur.execute("BEGIN")
            for unit in units:
                if savepoints:
                    await cur.execute("SAVEPOINT u")
                await cur.execute(_WRITE, unit)
                if savepoints:
                    await cur.execute("RELEASE SAVEPOINT u")
            await cur.execute("COMMIT")
        return [None] * len(units)

    return write


async def async_side(streams: list[str], readers: int, writers: int, savepoints: bool) -> float:
    info = conninfo()
    rconns = [await psycopg.AsyncConnection.connect(info, autocommit=True) for _ in range(readers)]
    wconns = [await psycopg.AsyncConnection.connect(info, autocommit=True) for _ in range(writers)]
    reads = Coalescer(list(rconns), read_many)
    writes = Coalescer(list(wconns), write_many(savepoints))

    async def work(share: list[str]) -> None:
        for stream in share:
            rows = await reads.submit(stream)
            await writes.submit(command_message(rows, stream))

    shares = [streams[k::TASKS] for k in range(TASKS)]
    with paused_gc():
        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for share in shares:
                group.create_task(work(share))
        wall = time.perf_counter() - start
    for c in rconns + wconns:
        await c.close()
    sizes = reads.batches, writes.batches
    print(
        f"  async batches: reads {len(sizes[0])} (mean {statistics.mean(sizes[0]):.1f}), "
        f"writes {len(sizes[1])} (mean {statistics.mean(sizes[1]):.1f})",
        file=sys.stderr,
    )
    return wall


def main() -> None:
    args = sys.argv[1:]
    commands = int(args[0]) if args else 1280
    pairs = int(args[1]) if len(args) > 1 else 7
    variant = args[2] if len(args) > 2 else "r2w1"
    readers, writers = int(variant[1]), int(variant[3])
    savepoints = "nosp" not in args[2:]
    with open("/proc/loadavg") as loadavg:
        print(f"load {loadavg.read().split()[:3]} args {args}", file=sys.stderr)
    ratios = []
    for pair in range(pairs):
        sync_streams, async_streams = new_streams(commands), new_streams(commands)
        order = [0, 1] if pair % 2 == 0 else [1, 0]
        walls: dict[int, float] = {}
        for side in order:
            if side == 0:
                walls[0] = sync_side(sync_streams)
            else:
                walls[1] = asyncio.run(async_side(async_streams, readers, writers, savepoints))
        ratio = walls[0] / walls[1]
        ratios.append(ratio)
        print(
            f"pair {pair}: sync {commands / walls[0]:.0f}/s async {commands / walls[1]:.0f}/s "
            f"ratio {ratio:.2f}",
            file=sys.stderr,
        )
    print(f"{variant} savepoints={savepoints}: median ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
