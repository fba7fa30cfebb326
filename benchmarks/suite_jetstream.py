"""JetStream R3 against MessageDB (issue 15), in adjacent pairs, in one process.

Runs in the project's virtual environment, against the 3-node cluster of
`scripts/nats-cluster.sh` (the URI in the config's `nats_uri`, else a running
cluster, else one started here and stopped at the end) and MessageDB. Each sample
of the JetStream store is taken right next to one of MessageDB, alternating which
goes first (as `suite_paired.py` does), and each pair gives one ratio:

- register, one command per commit: a new User added; JetStream rate / MessageDB rate;
- the same from `THREADS` threads at once, all in one category (MessageDB's
  per-category lock makes them wait for one another; JetStream checks per stream);
- append `batch` events per commit: a new User, registered and renamed, added in
  one unit of work; rate ratio (target >= 1.5);
- rehydrate `stream` events, snapshots off: one `get`; JetStream time / MessageDB
  time (target <= 3);
- consumer, no-op generated handler, over a category of `jetstream_category` events
  (User events, 10 per stream); rate ratio.

The JetStream store's streams live in the JetStream stream `aggregenbench`; the
consumer's category in one of its own, `benchread<N>`, written once (whole streams,
50 per append) and reused by later runs while the cluster keeps its data. MessageDB's
consumer reads `read_side.ensure_category`'s category of the same size.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aggregen.runtime import Consumer, EventStore, EventStoreError, UnitOfWork, connect
from aggregen.runtime.message import NewMessage, StreamWrite

from .common import MESSAGEDB_URI, Result, Sizes, emit, log, parse_args, time_once
from .nats_cluster import running_cluster
from .read_side import (
    EVENTS_PER_STREAM,
    READ_BATCH,
    category_name,
    ensure_category,
    user_event,
)
from .suite_aggregen import Workloads, load_handler

PAIRS = 9
"""Pairs per workload (a consumer's pairs: a third of them, at least 2)."""
THREADS = 8
PREFIX = "aggregenbench"
APPEND_LIMIT = 500
"""Messages per append the JetStream store takes (one atomic batch with id records)."""
USERS_PER_APPEND = 50
METADATA = {"schemaVersion": 1}

Sample = Callable[[], float]
"""Takes one sample, returns what it measured: a rate or a time."""


def paired(jetstream: Sample, messagedb: Sample, pairs: int) -> tuple[list[float], ...]:
    """`pairs` adjacent samples of each side, alternating which goes first: (js, mdb)."""
    ours: list[float] = []
    theirs: list[float] = []
    for pair in range(pairs):
        if pair % 2 == 0:
            ours.append(jetstream())
            theirs.append(messagedb())
        else:
            theirs.append(messagedb())
            ours.append(jetstream())
    return ours, theirs


def results(op: str, kind: str, sides: tuple[list[float], ...], note: str) -> list[Result]:
    """The pair ratios (JetStream / MessageDB) and each side's samples as `Result`s."""
    jetstream, messagedb = sides
    ratios = [j / m for j, m in zip(jetstream, messagedb, strict=True)]
    log(f"jetstream: {op} median ratio {statistics.median(ratios):.2f}")
    return [
        Result(op=op, store="jetstream", kind="ratio", samples=ratios, note=note),
        Result(op=f"{op} jetstream", store="jetstream", kind=kind, samples=jetstream),
        Result(op=f"{op} messagedb", store="jetstream", kind=kind, samples=messagedb),
    ]


class Side:
    """The write and rehydrate workloads on one store, each returning one sample."""

    def __init__(self, name: str, store: EventStore, sizes: Sizes) -> None:
        self.work = Workloads(name, store, sizes)
        self.store = store
        self.sizes = sizes
        self.commands = max(sizes.commands // 3, 10)
        self.batches = max(sizes.batches // 3, 1)
        self.stream_id = ""

    def register(self) -> float:
        """Commits per second of `commands` registrations, one commit each."""
        repo = self.work.plain

        def register_all() -> None:
            for _ in range(self.commands):
                repo.add(self.work.register())

        return self.commands / time_once(register_all)

    def register_concurrent(self, threads: ThreadPoolExecutor) -> float:
        """Commits per second of `commands` registrations dealt to `THREADS` threads."""
        repo = self.work.plain
        share = max(1, self.commands // THREADS)

        def register_share(_: int) -> None:
            for _ in range(share):
                repo.add(self.work.register())

        return (
            share * THREADS / time_once(lambda: list(threads.map(register_share, range(THREADS))))
        )

    def append(self) -> float:
        """Events per second of `batches` commits of `batch` events."""
        batch = self.sizes.batch

        def append_all() -> None:
            for _ in range(self.batches):
                user = self.work.register()
                for i in range(batch - 1):
                    user.rename(first_name=f"Ada {i}")
                with UnitOfWork(self.store):
                    self.work.plain.add(user)

        return batch * self.batches / time_once(append_all)

    def prepare_stream(self) -> None:
        """A User of `stream` events, written in commits the JetStream store takes."""
        user = self.work.register()
        for i in range(self.sizes.stream - 1):
            user.rename(first_name=f"Ada {i}")
            if len(user.pending_events) == APPEND_LIMIT:
                with UnitOfWork(self.store):
                    self.work.plain.add(user)
        with UnitOfWork(self.store):
            self.work.plain.add(user)
        self.stream_id = str(user.id)
        got = self.work.plain.get(self.stream_id)
        if got._version != self.sizes.stream - 1:
            raise AssertionError(f"read version {got._version}, wrote {self.sizes.stream}")

    def rehydrate(self) -> float:
        """Seconds of one `get` of the `stream`-event User."""
        return time_once(lambda: self.work.plain.get(self.stream_id))


def ready(store: EventStore, seconds: float = 60) -> EventStore:
    """`store` once it answers: a cluster just started elects its stream leaders first.

    Raises the store's `EventStoreError` when it does not answer within `seconds`.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            store.stream_version(f"benchReady-{uuid.uuid4()}")
            return store
        except EventStoreError as error:
            if time.monotonic() > deadline:
                raise
            log(f"jetstream: waiting for the cluster ({error})")
            time.sleep(1)


def jetstream_category(nats_uri: str, events: int) -> tuple[EventStore, str]:
    """A store on `benchread<events>` and its category of `events` User events.

    Written on first use (whole streams, `USERS_PER_APPEND` a commit); a category
    found complete (its last stream's last position) is reused. Raises
    `RuntimeError` for a category left half written.
    """
    store = ready(connect(f"{nats_uri}/benchread{events}"))
    category = category_name(events)
    users = max(1, events // EVENTS_PER_STREAM)
    streams = [f"{category}-u{n:07d}" for n in range(users)]
    last = store.stream_version(streams[-1])
    if last == EVENTS_PER_STREAM - 1:
        return store, category
    if last != -1 or store.stream_version(streams[0]) != -1:
        store.close()
        raise RuntimeError(
            f"JetStream category {category!r} is half written: "
            "scripts/nats-cluster.sh stop --wipe, then run again"
        )
    log(f"jetstream: writing {events:,} events into {category!r} (once)")
    started = time.perf_counter()
    for start in range(0, users, USERS_PER_APPEND):
        writes = []
        for n in range(start, min(start + USERS_PER_APPEND, users)):
            messages = [
                NewMessage(str(uuid.uuid4()), *user_event(n, round_number), METADATA)
                for round_number in range(EVENTS_PER_STREAM)
            ]
            writes.append(StreamWrite(streams[n], -1, messages))
        store.append(writes)
    log(f"jetstream: wrote {events:,} events in {time.perf_counter() - started:.1f} s")
    return store, category


def consumer_sample(store: EventStore, category: str, handler: type[Any], events: int) -> float:
    """Events per second of a new consumer, no-op handler, over the whole category."""

    class NoOp(handler):  # type: ignore[misc]
        """The generated handler as it is: every `on_<event>` does nothing."""

    consumer = Consumer(
        store,
        category,
        NoOp(),
        name=f"bench{uuid.uuid4().hex[:12]}",
        batch_size=READ_BATCH,
        position_update_interval=READ_BATCH,
    )
    handled: list[int] = []
    seconds = time_once(lambda: handled.append(consumer.catch_up()))
    if handled[0] != events:
        raise AssertionError(f"consumer handled {handled[0]}, not {events}")
    return events / seconds


@contextlib.contextmanager
def nats_uri(config: dict[str, Any]) -> Iterator[str]:
    """The cluster's URI from the config, or from a cluster running (started if needed)."""
    if "nats_uri" in config:
        yield str(config["nats_uri"])
        return
    with running_cluster() as uri:
        yield uri


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    pairs = max(2, int(config.get("pairs", PAIRS)))
    events = sizes.jetstream_category
    if sizes.batch > APPEND_LIMIT:
        raise SystemExit(f"jetstream: --batch {sizes.batch}: JetStream takes {APPEND_LIMIT}")
    found: list[Result] = []
    with nats_uri(config) as nats, contextlib.ExitStack() as stores:
        messagedb = connect(uri, max_size=THREADS)
        stores.callback(messagedb.close)
        jetstream = ready(connect(f"{nats}/{PREFIX}"))
        stores.callback(jetstream.close)
        js, mdb = Side("jetstream", jetstream, sizes), Side("messagedb", messagedb, sizes)
        for warm in (js.register, mdb.register):  # connections, prepared statements
            warm()
        found += results(
            "register",
            "rate",
            paired(js.register, mdb.register, pairs),
            f"{js.commands} commits of one event a sample",
        )
        threads = stores.enter_context(ThreadPoolExecutor(THREADS))
        found += results(
            "register_concurrent",
            "rate",
            paired(
                lambda: js.register_concurrent(threads),
                lambda: mdb.register_concurrent(threads),
                pairs,
            ),
            f"{js.commands // THREADS * THREADS} commits of one event a sample, "
            f"from {THREADS} threads, one category",
        )
        found += results(
            "append_batch",
            "rate",
            paired(js.append, mdb.append, pairs),
            f"{js.batches} commit(s) of {sizes.batch} events a sample",
        )
        for side in (js, mdb):
            side.prepare_stream()
            side.rehydrate()
        found += results(
            "rehydrate",
            "time",
            paired(js.rehydrate, mdb.rehydrate, max(pairs, 5)),
            f"one get of a {sizes.stream:,}-event User, snapshots off",
        )
        handler = load_handler()
        if handler is not None:
            js_store, js_category = jetstream_category(nats, events)
            stores.callback(js_store.close)
            mdb_category = ensure_category(uri, events, log)
            found += results(
                "consume",
                "rate",
                paired(
                    lambda: consumer_sample(js_store, js_category, handler, events),
                    lambda: consumer_sample(messagedb, mdb_category, handler, events),
                    max(2, pairs // 3),
                ),
                f"a new Consumer over {events:,} events, no-op UserHandler subclass, "
                f"batches of {READ_BATCH}",
            )
    versions = {
        "aggregen": importlib.metadata.version("aggregen"),
        "nats-py": importlib.metadata.version("nats-py"),
        "python": sys.version.split()[0],
    }
    emit("jetstream", versions, found)


if __name__ == "__main__":
    main()
