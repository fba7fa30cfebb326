"""Where a rehydrate's time goes: the read, the decoding, each step of the replay, per event.

Standalone (`.venv/bin/python -m benchmarks.decode_profile [--events N]`), not a
suite. Writes one generated `User` with N events (1,000) to MessageDB, then times,
best of `--rounds`, with the garbage collector paused:

- the raw read (`get_stream_messages`, rows fetched), with orjson decoding, and
  with `time` read as an aware datetime as aggregen reads it;
- `MessageDBEventStore.read` (the rows as `RecordedMessage`, data decoded);
- `UserRepository.get`, the whole rehydrate;
- the replay of already-read messages (`repository._replay`), and the steps it does
  per event, cumulatively: the loop over messages and the type lookup, the
  `Metadata` tuple (no causation stored), the event's `from_data`, the aggregate's
  `apply_<event>` method (called directly, as the replay does);
- `decoding.decode_event` over the same messages and a generated handler's
  `handle` (the consumers' path).

The step rows rebuild the replay loop's work in this module, one step more each
row, to attribute its time; they are not the runtime's code. Prints microseconds per
event; the CPU-only rows are stable even on a busy machine, the database rows less.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

from aggregen.runtime import MessageDBEventStore, Metadata, UnitOfWork
from aggregen.runtime.decoding import decode_event
from aggregen.runtime.repository import _replay

from .common import JOINED_ON, MESSAGEDB_URI
from .read_side import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
READ = (
    "SELECT id, type, position, global_position, data, metadata, time "
    "FROM get_stream_messages(%s::varchar, %s::bigint, %s::bigint)"
)
READ_UTC = READ.replace(", time ", ", time AT TIME ZONE 'UTC' ")
"""aggregen's columns: `time` as an aware datetime (timestamptz)."""


def best(action: Callable[[], object], rounds: int) -> float:
    """The lowest of `rounds` timings of `action`, in seconds, the collector paused."""
    times = []
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1000, help="events in the stream [1000]")
    parser.add_argument("--rounds", type=int, default=50, help="timings per row, best kept [50]")
    parser.add_argument("--uri", default=MESSAGEDB_URI)
    args = parser.parse_args()
    n, rounds = args.events, args.rounds

    sys.path.insert(0, str(ROOT / "generated"))
    identity: Any = importlib.import_module("identity")
    store = MessageDBEventStore(args.uri)
    repo = identity.UserRepository(store, snapshot_threshold=0)
    user = identity.User.register(email="ada@example.com", first_name="Ada", joined_on=JOINED_ON)
    for i in range(n - 1):
        user.rename(first_name=f"Ada {i}")
    with UnitOfWork(store):
        repo.add(user)
    stream = identity.User.stream_name(user.id)
    messages = list(store.read(stream))
    events = identity.User.__events__
    handler = identity.UserHandler()

    appliers = {cls: identity.User._apply_function(cls) for cls in events.values()}
    readers = {name: (cls.from_data, cls) for name, cls in events.items()}
    new_tuple = tuple.__new__

    def loop_only() -> None:
        for _, _, type_name, _, _, _, extra, _ in messages:
            readers[type_name]
            (extra or {}).get("schemaVersion", 1)

    def with_metadata() -> None:
        for message_id, stream_name, type_name, position, global_position, _, extra, t in messages:
            readers[type_name]
            extra = extra or {}
            version = extra.get("schemaVersion", 1)
            new_tuple(Metadata, (message_id, t, stream_name, position, global_position, version,
                                 None, None, None, None, None, None))  # fmt: skip

    def with_from_data(aggregate: Any = None) -> Callable[[], None]:
        def action() -> None:
            for message_id, stream_name, type_name, position, glob, data, extra, t in messages:
                from_data, cls = readers[type_name]
                extra = extra or {}
                version = extra.get("schemaVersion", 1)
                metadata = new_tuple(Metadata, (message_id, t, stream_name, position, glob,
                                                version, None, None, None, None, None,
                                                None))  # fmt: skip
                event = from_data(data, metadata)
                if aggregate is not None:
                    appliers[cls](aggregate, event)

        return action

    blank = identity.User._blank(user.id)

    rows: list[tuple[str, Callable[[], object]]]
    with psycopg.connect(args.uri, autocommit=True, options=OPTIONS) as conn:

        def raw_read() -> object:
            return conn.execute(READ, (stream, 0, n)).fetchall()

        def raw_orjson() -> object:
            fetched = conn.execute(READ, (stream, 0, n)).fetchall()
            return [(orjson.loads(r[4]), orjson.loads(r[5])) for r in fetched]

        def raw_orjson_utc() -> object:
            fetched = conn.execute(READ_UTC, (stream, 0, n)).fetchall()
            return [(orjson.loads(r[4]), orjson.loads(r[5])) for r in fetched]

        rows = [
            ("raw read, no decoding (get_stream_messages)", raw_read),
            ("raw read + orjson (the issue's reference)", raw_orjson),
            ("raw read + orjson, time AT TIME ZONE 'UTC' (aware)", raw_orjson_utc),
            ("MessageDBEventStore.read (RecordedMessage, orjson)",
             lambda: list(store.read(stream))),
            ("UserRepository.get (the whole rehydrate)", lambda: repo.get(user.id)),
            ("replay of read messages (repository._replay)",
             lambda: _replay(identity.User._blank(user.id), stream, messages)),
            ("  step 1: loop, unpack, type lookup, schema version", loop_only),
            ("  step 2: + Metadata tuple", with_metadata),
            ("  step 3: + from_data (the event)", with_from_data()),
            ("  step 4: + apply_<event> (= the replay's work)", with_from_data(blank)),
            ("decode_event per message (handlers, history)",
             lambda: [decode_event(events, "User", m) for m in messages]),
            ("UserHandler.handle per message (no-op on_<event>)",
             lambda: [handler.handle(m) for m in messages]),
        ]  # fmt: skip
        print(f"{n:,} events of {stream}; best of {rounds}; microseconds per event")
        for label, action in rows:
            seconds = best(action, rounds)
            print(f"{label:55} {seconds / n * 1e6:7.2f} us   ({seconds * 1e3:6.2f} ms)")
    store.close()


if __name__ == "__main__":
    main()
