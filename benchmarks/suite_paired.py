"""aggregen and the raw ceiling measured in pairs, alternating, in one process.

Runs in the project's virtual environment. The other suites give each library its
best sample out of several runs of separate processes; on a shared, noisy machine
two such bests can drift apart by 15% between runs whatever the code. Here each
sample of aggregen is taken right next to one of the raw ceiling, on the same
database connection count and the same warm caches, in the order A B, then B A
(so a slow-down in the middle of a pair hits both sides alike), and the result
is each pair's rate ratio (aggregen / raw). The report shows the median and the
spread of those ratios beside the best-sample ratios.

Workloads: one command per commit (register; raw: one `write_message` per
transaction) and 100 events per commit (register + renames in one unit of work;
raw: BEGIN, an executemany of `write_message` and COMMIT in one round trip), a get
of a `--stream` events aggregate, snapshots off (raw: `get_stream_messages` of the
same stream in pages of 1,000, data and metadata decoded with orjson), and a
consumer with a no-op generated handler over the read-side category (raw: the
`get_category_messages` loop of `suite_raw.consume_category`), fewer pairs as each
sample reads the whole category.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable

import orjson
import psycopg

from aggregen.runtime import UnitOfWork, connect

from .common import MESSAGEDB_URI, Result, emit, log, parse_args, time_once
from .suite_aggregen import ReadSide, Workloads, load_handler
from .suite_raw import (
    OPTIONS,
    append_in_one_round_trip,
    consume_category,
    read_stream,
    register_one_per_transaction,
)

PAIRS = 15
"""Pairs per workload: the median of 15 ratios is steady to about 2% here."""


def paired_ratios(
    ours: Callable[[], None], theirs: Callable[[], None], work: int, pairs: int
) -> list[float]:
    """Rate ratios ours / theirs of `pairs` adjacent samples, alternating which goes first."""
    ratios = []
    for pair in range(pairs):
        if pair % 2 == 0:
            our_time, their_time = time_once(ours), time_once(theirs)
        else:
            their_time, our_time = time_once(theirs), time_once(ours)
        ratios.append((work / our_time) / (work / their_time))
    return ratios


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    pairs = max(3, int(config.get("pairs", PAIRS)))
    store = connect(uri)
    raw = psycopg.connect(uri, autocommit=True, options=OPTIONS)
    try:
        work = Workloads("messagedb", store, sizes)
        commands = max(sizes.commands // 3, 10)
        batch, batches = sizes.batch, max(sizes.batches // 3, 1)

        def register() -> None:
            for _ in range(commands):
                work.plain.add(work.register())

        def append() -> None:
            for _ in range(batches):
                user = work.register()
                for i in range(batch - 1):
                    user.rename(first_name=f"Ada {i}")
                with UnitOfWork(store):
                    work.plain.add(user)

        def raw_register() -> None:
            register_one_per_transaction(raw, commands)

        def raw_append() -> None:
            append_in_one_round_trip(raw, batch, batches)

        workloads: list[tuple[str, Callable[[], None], Callable[[], None], int, str]] = [
            (
                "register",
                register,
                raw_register,
                commands,
                f"{commands} commits a sample; raw: write_message, 1 per transaction",
            ),
            (
                "append_batch",
                append,
                raw_append,
                batch * batches,
                f"{batches} commit(s) of {batch} events a sample; raw: one round trip each",
            ),
        ]
        rehydrated = work.write_stream(work.plain, sizes.stream)
        stream = work.plain.aggregate_class.stream_name(rehydrated)

        def rehydrate() -> None:
            work.plain.get(rehydrated)

        def raw_rehydrate() -> None:
            read_stream(raw, stream, orjson.loads)

        workloads.append(
            (
                "rehydrate",
                rehydrate,
                raw_rehydrate,
                sizes.stream,
                f"a get of {sizes.stream} events, snapshots off, a sample; raw: "
                "get_stream_messages + orjson of the same stream",
            )
        )
        handler = load_handler()
        if handler is not None:
            read_side = ReadSide(store, uri, sizes, handler)

            def consume() -> None:
                read_side.consume_once()

            def consume_decoded() -> None:
                read_side.consume_once(decoded=True)

            def raw_consume() -> None:
                consume_category(raw, read_side.category)

            for op, ours in (("consume", consume), ("consume_decoded", consume_decoded)):
                workloads.append(
                    (
                        op,
                        ours,
                        raw_consume,
                        read_side.events,
                        "whole category a sample; raw: get_category_messages + orjson, "
                        "position per batch"
                        + ("; every event decoded" if op == "consume_decoded" else ""),
                    )
                )
        results = []
        for op, ours, theirs, size, note in workloads:
            consuming = op.startswith("consume")
            if not consuming:  # a consumer's sample is long: its first batches warm it
                ours()  # warm both: prepared statements, the pool, caches
                theirs()
            count = pairs if not consuming else max(2, pairs // 5)
            ratios = paired_ratios(ours, theirs, size, count)
            results.append(
                Result(op=op, store="messagedb", kind="ratio", samples=ratios, note=note)
            )
            log(f"paired: {op} done")
    finally:
        raw.close()
        store.close()
    versions = {
        "aggregen": importlib.metadata.version("aggregen"),
        "python": sys.version.split()[0],
    }
    emit("paired", versions, results)


if __name__ == "__main__":
    main()
