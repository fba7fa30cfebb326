"""The async repository against the sync one on MessageDB, in adjacent pairs.

Runs in the project's virtual environment, in one process and one event loop. Two
workloads, each get + rename + add of a User whose stream holds one event
(snapshots off, as every write workload here), each command its own commit:

- `async_concurrent`: the same number of commands run by 64 asyncio tasks on one
  `AsyncMessageDBEventStore` and by 8 threads on one `MessageDBEventStore`, each task
  or thread on users of its own. Sample ratio: async rate / sync rate (issue 14's
  target: at least 1.5).
- `async_latency`: one task running commands one after the other against the sync
  repository called in a loop on one thread. Sample ratio: async time per command /
  sync time per command (target: at most 1.15).

Each sample of one side is taken right next to one of the other, in the order A B,
then B A, as `suite_paired.py` does, so that the ratios hold on a noisy machine;
the best rate or time of each side is reported too. The users are registered before
each sample (one unit of work, not timed). While a sync sample runs the event loop is
idle; while an async sample runs the threads wait.

Pools: the async store gets `ASYNC_POOL` connections, the sync store one per thread
(`THREADS`): see benchmarks/README.md for why.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from aggregen.runtime import (
    AsyncEventStore,
    AsyncRepository,
    MessageDBEventStore,
    UnitOfWork,
    connect_async,
)

from .common import MESSAGEDB_URI, Result, Sizes, emit, log, parse_args, paused_gc
from .suite_aggregen import Workloads

TASKS = 64
"""Concurrent asyncio tasks (issue 14)."""
THREADS = 8
"""Threads of the sync side (issue 14)."""
ASYNC_POOL = 16
"""Connections of the async store: enough that a task rarely waits for one, few enough
that the 2-core server is not switching between 64 backends (README: pool sizes)."""
PAIRS = 9
"""Pairs per workload (each pair two samples of every user set)."""


Sample = tuple[float, float]
"""One sample: wall seconds and the process's CPU seconds."""


def async_repository(work: Workloads, store: AsyncEventStore) -> Any:
    """The async twin of `work`'s User repository: the generated `AsyncUserRepository`
    of generated/identity, or an `AsyncRepository` of tests/domain.py's User."""
    if work.source == "generated/identity":
        generated = importlib.import_module("identity").AsyncUserRepository
        return generated(store, snapshot_threshold=0)
    return AsyncRepository(work.user_class, store, snapshot_threshold=0)


def timed_sync(action: Callable[[], object]) -> Sample:
    """Wall and CPU seconds `action` takes, the collector paused (`common.paused_gc`)."""
    with paused_gc():
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        return time.perf_counter() - wall, time.process_time() - cpu


async def timed_async(action: Callable[[], Awaitable[object]]) -> Sample:
    """Wall and CPU seconds the awaited `action` takes, the collector paused."""
    with paused_gc():
        wall, cpu = time.perf_counter(), time.process_time()
        await action()
        return time.perf_counter() - wall, time.process_time() - cpu


class Sides:
    """The sync and async repositories over the same users' category."""

    def __init__(self, work: Workloads, async_store: AsyncEventStore) -> None:
        self.work = work
        self.sync = work.plain
        self.asynchronous = async_repository(work, async_store)
        self.threads = ThreadPoolExecutor(THREADS, thread_name_prefix="bench-sync")

    def users(self, count: int) -> list[str]:
        """`count` new users, registered in one unit of work (not timed)."""
        users = [self.work.register() for _ in range(count)]
        with UnitOfWork(self.work.store):
            for user in users:
                self.sync.add(user)
        return [str(user.id) for user in users]

    def sync_rename(self, user_ids: list[str]) -> None:
        """get + rename + add of each user, one after the other, on this thread."""
        for i, user_id in enumerate(user_ids):
            user = self.sync.get(user_id)
            user.rename(first_name=f"Ada {i}")
            self.sync.add(user)

    async def async_rename(self, user_ids: list[str]) -> None:
        """get + rename + add of each user, one after the other, in this task."""
        for i, user_id in enumerate(user_ids):
            user = await self.asynchronous.get(user_id)
            user.rename(first_name=f"Ada {i}")
            await self.asynchronous.add(user)

    def sync_concurrent(self, shares: list[list[str]]) -> None:
        """Every share on a thread of the pool; raises what a thread raised."""
        for done in [self.threads.submit(self.sync_rename, share) for share in shares]:
            done.result()

    async def async_concurrent(self, shares: list[list[str]]) -> None:
        """Every share in a task of its own; raises what a task raised."""
        async with asyncio.TaskGroup() as group:
            for share in shares:
                group.create_task(self.async_rename(share))


def split(user_ids: list[str], parts: int) -> list[list[str]]:
    """`user_ids` dealt into `parts` shares of equal size (or one fewer)."""
    return [user_ids[part::parts] for part in range(parts)]


async def paired(
    sides: Sides, commands: int, shares: tuple[int, int], pairs: int
) -> tuple[list[Sample], list[Sample]]:
    """Per pair, the sync and the async sample of `commands`, alternating which goes first.

    `shares`: threads and tasks the commands are dealt to (1: run on this thread or task).
    """
    sync_shares, async_shares = shares
    sync_samples: list[Sample] = []
    async_samples: list[Sample] = []

    def run_sync() -> None:
        shares = split(sides.users(commands), sync_shares)
        if sync_shares == 1:
            sync_samples.append(timed_sync(lambda: sides.sync_rename(shares[0])))
        else:
            sync_samples.append(timed_sync(lambda: sides.sync_concurrent(shares)))

    async def run_async() -> None:
        shares = split(sides.users(commands), async_shares)
        if async_shares == 1:
            async_samples.append(await timed_async(lambda: sides.async_rename(shares[0])))
        else:
            async_samples.append(await timed_async(lambda: sides.async_concurrent(shares)))

    for pair in range(pairs):
        if pair % 2 == 0:
            run_sync()
            await run_async()
        else:
            await run_async()
            run_sync()
    return sync_samples, async_samples


def results(
    op: str, kind: str, samples: tuple[list[Sample], list[Sample]], commands: int, note: str
) -> list[Result]:
    """The ratio of each pair (async / sync: of rates for kind "rate", of times per
    command for "time"), and beside it each side's own samples and CPU per command."""
    sync, asynchronous = samples
    walls = {"sync": [w for w, _ in sync], "async": [w for w, _ in asynchronous]}
    if kind == "rate":
        ratios = [s / a for s, a in zip(walls["sync"], walls["async"], strict=True)]
    else:
        ratios = [a / s for s, a in zip(walls["sync"], walls["async"], strict=True)]
    found = [Result(op=op, store="messagedb", kind="ratio", samples=ratios, note=note)]
    for side, side_samples in (("async", asynchronous), ("sync", sync)):
        values = [commands / w if kind == "rate" else w / commands for w, _ in side_samples]
        cpu = [c / commands for _, c in side_samples]
        found += [
            Result(op=f"{op} {side}", store="messagedb", kind=kind, samples=values),
            Result(op=f"{op} {side} CPU", store="messagedb", kind="time", samples=cpu),
        ]
    log(f"async: {op} median ratio {statistics.median(ratios):.2f}")
    return found


async def measure(
    uri: str, sizes: Sizes, pairs: int, *, latency: bool, suffix: str = ""
) -> list[Result]:
    """The paired workloads on the database at `uri`, after a warm-up (connections
    made, statements prepared); the one-task latency only when `latency`."""
    # Every task and thread gets the same number of users: a multiple of 64 commands.
    commands = max(1, round(sizes.commands / TASKS)) * TASKS
    sequential = max(sizes.commands // 3, 10)
    sync_store = MessageDBEventStore(uri, max_size=THREADS)
    async_store = connect_async(uri, max_size=ASYNC_POOL)
    sides = Sides(Workloads("messagedb", sync_store, sizes), async_store)
    found = []
    try:
        sides.sync_concurrent(split(sides.users(THREADS * 4), THREADS))
        await sides.async_concurrent(split(sides.users(TASKS * 2), TASKS))
        concurrent = await paired(sides, commands, (THREADS, TASKS), pairs)
        found += results(
            f"async_concurrent{suffix}",
            "rate",
            concurrent,
            commands,
            f"{commands} get+rename+add a sample: {TASKS} tasks (pool {ASYNC_POOL}) "
            f"against {THREADS} threads (pool {THREADS}); ratio of rates",
        )
        if latency:
            one = await paired(sides, sequential, (1, 1), pairs)
            found += results(
                f"async_latency{suffix}",
                "time",
                one,
                sequential,
                f"{sequential} get+rename+add a sample, one task against one thread; "
                "ratio of times per command",
            )
    finally:
        sides.threads.shutdown()
        await async_store.close()
        sync_store.close()
    return found


UNFLUSHED = "synchronous_commit=off"
"""The variant's session setting: commits return before their WAL is flushed to disk."""


def unflushed(uri: str) -> str:
    """`uri` with `synchronous_commit=off` for its sessions (libpq's `options`)."""
    options = quote(f"-c {UNFLUSHED}")
    return f"{uri}{'&' if '?' in uri else '?'}options={options}"


async def measure_all(uri: str, sizes: Sizes, pairs: int) -> list[Result]:
    """The targets' workloads, then the concurrent one with commits not waiting for the
    disk: MessageDB holds its category lock until the WAL is flushed, which caps both
    sides at one flush per command however many tasks wait (README: the async rows)."""
    found = await measure(uri, sizes, pairs, latency=True)
    found += await measure(unflushed(uri), sizes, pairs, latency=False, suffix=f"[{UNFLUSHED}]")
    return found


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    pairs = max(3, int(config.get("pairs", PAIRS)))
    found = asyncio.run(measure_all(uri, sizes, pairs))
    versions = {
        "aggregen": importlib.metadata.version("aggregen"),
        "python": sys.version.split()[0],
    }
    emit("async", versions, found)


if __name__ == "__main__":
    main()
