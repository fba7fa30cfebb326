"""A consumer-group member's read: MessageDB's `get_category_messages` against aggregen's.

Standalone (`.venv/bin/python -m benchmarks.consumer_group_query [--category N]`), not
a suite: a database-side figure, measured once. On the category of
`read_side.ensure_category` (written if missing), member 0 of a group of 4 reads one
batch of 1,000 messages from the category's start and from its middle, `--pairs`
times, alternating: through `get_category_messages` as aggregen's `read_category`
called it before issue 12's fix (a prepared statement, rows decoded with orjson), and
through `MessageDBEventStore.read_category` now. A read of the same batch without a
consumer group is the reference. Prints the median and best of each, in ms, and the
load average (the figures mean little on a busy machine; their ratio more).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable

import orjson
import psycopg

from aggregen.runtime import ConsumerGroup, MessageDBEventStore

from .common import MESSAGEDB_URI, time_once
from .read_side import OPTIONS, READ_BATCH, ensure_category

BEFORE = (
    "SELECT id, stream_name, type, position, global_position, data, metadata, "
    "time AT TIME ZONE 'UTC' FROM get_category_messages("
    "%s::varchar, %s::bigint, %s::bigint, %s::varchar, %s::bigint, %s::bigint)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--category", type=int, default=100_000, help="events [100000]")
    parser.add_argument("--pairs", type=int, default=15, help="alternating samples [15]")
    parser.add_argument("--uri", default=MESSAGEDB_URI)
    args = parser.parse_args()
    category = ensure_category(args.uri, args.category, print)
    store = MessageDBEventStore(args.uri)
    group = ConsumerGroup(0, 4)
    with psycopg.connect(args.uri, autocommit=True, options=OPTIONS) as conn:
        row = conn.execute(
            "SELECT min(global_position), max(global_position) FROM messages "
            "WHERE category(stream_name::varchar) = %s",
            (category,),
        ).fetchone()
        assert row is not None
        middle = (row[0] + row[1]) // 2

        def before(position: int, member: int | None) -> Callable[[], object]:
            size = None if member is None else 4

            def read() -> object:
                rows = conn.execute(
                    BEFORE, (category, position, READ_BATCH, None, member, size)
                ).fetchall()
                return [(orjson.loads(r[5]), orjson.loads(r[6])) for r in rows]

            return read

        def after(position: int) -> Callable[[], object]:
            return lambda: store.read_category(
                category, position, batch_size=READ_BATCH, consumer_group=group
            )

        print(f"load average before: {os.getloadavg()}")
        for label, position in (("start", 1), ("middle", middle)):
            old_ids = [m[0] for m in conn.execute(BEFORE, (category, position, READ_BATCH,
                                                           None, 0, 4)).fetchall()]  # fmt: skip
            new_ids = [m.id for m in store.read_category(category, position,
                                                         batch_size=READ_BATCH,
                                                         consumer_group=group)]  # fmt: skip
            assert [str(i) for i in old_ids] == new_ids, "the two reads differ"
            samples: dict[str, list[float]] = {"get_category_messages": [], "read_category": [],
                                               "no group": []}  # fmt: skip
            for n in range(args.pairs):
                pair = [("get_category_messages", before(position, 0)),
                        ("read_category", after(position))]  # fmt: skip
                for name, action in pair if n % 2 == 0 else pair[::-1]:
                    samples[name].append(time_once(action))
                samples["no group"].append(time_once(before(position, None)))
            for name, values in samples.items():
                print(
                    f"{label:6} {name:22} median {statistics.median(values) * 1e3:7.1f} ms"
                    f"  best {min(values) * 1e3:7.1f} ms"
                )
        print(f"load average after: {os.getloadavg()}")
    store.close()


if __name__ == "__main__":
    main()
