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

Variants, each its own row: the concurrent workload with `synchronous_commit=off`
(commits not waiting for the disk), with the async store's coalescing off (each
task's reads and commits on their own, as before it coalesced) and with the users
spread over `CATEGORIES` categories (MessageDB's write lock is per category; config
`categories` changes how many); every workload again on uvloop's event loop
(`--loop`, config `loop`: `asyncio`, `uvloop` or `both`; the targets are the rows
of asyncio's own loop).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from aggregen.runtime import (
    AsyncEventStore,
    AsyncRepository,
    MessageDBEventStore,
    Repository,
    UnitOfWork,
    connect_async,
)

from .common import JOINED_ON, MESSAGEDB_URI, Result, Sizes, emit, log, parse_args, paused_gc
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
CATEGORIES = 8
"""Categories of the spread variant: as many as the sync side has threads."""
SPREAD = "benchUserSpread"
"""The spread variant's categories: `benchUserSpread0`, `benchUserSpread1`, ..."""


Sample = tuple[float, float]
"""One sample: wall seconds and the process's CPU seconds."""
User = tuple[Any, str]
"""A user of a sample: its class (which names its category) and its id."""


def async_repository(user_class: Any, store: AsyncEventStore) -> Any:
    """The async repository of `user_class`: the generated `AsyncUserRepository` for
    generated/identity's User, else an `AsyncRepository` (tests/domain.py's User, or
    the User of another category in the spread variant)."""
    package = sys.modules.get(user_class.__module__.rpartition(".")[0])
    generated = getattr(package, "AsyncUserRepository", None)
    if generated is not None and getattr(package, "User", None) is user_class:
        return generated(store, snapshot_threshold=0)
    return AsyncRepository(user_class, store, snapshot_threshold=0)


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
    """The sync and async repositories of the User class and of its spread variants."""

    def __init__(self, work: Workloads, async_store: AsyncEventStore, spread: int = 0) -> None:
        self.work = work
        self.async_store = async_store
        self.repositories: dict[Any, tuple[Any, Any]] = {
            work.user_class: (work.plain, async_repository(work.user_class, async_store))
        }
        self.spread: list[Any] = [
            type(f"User{k}", (work.user_class,), {"__category__": f"{SPREAD}{k}"})
            for k in range(spread)
        ]
        for user_class in self.spread:
            self.repositories[user_class] = (
                Repository(user_class, work.store, snapshot_threshold=0),
                async_repository(user_class, async_store),
            )
        self.random = random.Random(14)
        self.threads = ThreadPoolExecutor(THREADS, thread_name_prefix="bench-sync")

    def users(self, count: int, categories: int = 1) -> list[User]:
        """`count` new users, registered in one unit of work (not timed); with
        `categories` > 1, each user's category drawn at random from as many (at most
        the `spread` given to the constructor)."""
        classes = self.spread[:categories] if categories > 1 else [self.work.user_class]
        users = [
            self.random.choice(classes).register(
                email="ada@example.com", first_name="Ada", joined_on=JOINED_ON
            )
            for _ in range(count)
        ]
        with UnitOfWork(self.work.store):
            for user in users:
                self.repositories[type(user)][0].add(user)
        return [(type(user), str(user.id)) for user in users]

    def sync_rename(self, users: list[User]) -> None:
        """get + rename + add of each user, one after the other, on this thread."""
        for i, (user_class, user_id) in enumerate(users):
            repository = self.repositories[user_class][0]
            user = repository.get(user_id)
            user.rename(first_name=f"Ada {i}")
            repository.add(user)

    async def async_rename(self, users: list[User]) -> None:
        """get + rename + add of each user, one after the other, in this task."""
        for i, (user_class, user_id) in enumerate(users):
            repository = self.repositories[user_class][1]
            user = await repository.get(user_id)
            user.rename(first_name=f"Ada {i}")
            await repository.add(user)

    def sync_concurrent(self, shares: list[list[User]]) -> None:
        """Every share on a thread of the pool; raises what a thread raised."""
        for done in [self.threads.submit(self.sync_rename, share) for share in shares]:
            done.result()

    async def async_concurrent(self, shares: list[list[User]]) -> None:
        """Every share in a task of its own; raises what a task raised."""
        async with asyncio.TaskGroup() as group:
            for share in shares:
                group.create_task(self.async_rename(share))


def split(users: list[User], parts: int) -> list[list[User]]:
    """`users` dealt into `parts` shares of equal size (or one fewer)."""
    return [users[part::parts] for part in range(parts)]


async def paired(
    sides: Sides, commands: int, shares: tuple[int, int], pairs: int, categories: int = 1
) -> tuple[list[Sample], list[Sample]]:
    """Per pair, the sync and the async sample of `commands`, alternating which goes first.

    `shares`: threads and tasks the commands are dealt to (1: run on this thread or task);
    `categories`: over how many categories the users are spread.
    """
    sync_shares, async_shares = shares
    sync_samples: list[Sample] = []
    async_samples: list[Sample] = []

    def run_sync() -> None:
        shares = split(sides.users(commands, categories), sync_shares)
        if sync_shares == 1:
            sync_samples.append(timed_sync(lambda: sides.sync_rename(shares[0])))
        else:
            sync_samples.append(timed_sync(lambda: sides.sync_concurrent(shares)))

    async def run_async() -> None:
        shares = split(sides.users(commands, categories), async_shares)
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


def op_name(workload: str, tags: list[str]) -> str:
    """The row's operation: `workload`, its variant tags in brackets."""
    return f"{workload}[{', '.join(tags)}]" if tags else workload


async def measure(
    uri: str,
    sizes: Sizes,
    pairs: int,
    *,
    latency: bool,
    spread: int,
    tags: list[str],
    coalesce: bool = True,
) -> list[Result]:
    """The paired workloads on the database at `uri`, after a warm-up (connections
    made, statements prepared): the concurrent one; the one-task latency when
    `latency`; the concurrent one over `spread` categories when `spread` > 1.
    `tags` name the variant in each row's operation; `coalesce` is the async store's
    (False: each task's reads and commits go out on their own)."""
    # Every task and thread gets the same number of users: a multiple of 64 commands.
    commands = max(1, round(sizes.commands / TASKS)) * TASKS
    sequential = max(sizes.commands // 3, 10)
    sync_store = MessageDBEventStore(uri, max_size=THREADS)
    async_store = connect_async(uri, max_size=ASYNC_POOL, coalesce=coalesce)
    sides = Sides(Workloads("messagedb", sync_store, sizes), async_store, spread)
    pools = f"{TASKS} tasks (pool {ASYNC_POOL}) against {THREADS} threads (pool {THREADS})"
    found = []
    try:
        sides.sync_concurrent(split(sides.users(THREADS * 4), THREADS))
        await sides.async_concurrent(split(sides.users(TASKS * 2), TASKS))
        concurrent = await paired(sides, commands, (THREADS, TASKS), pairs)
        found += results(
            op_name("async_concurrent", tags),
            "rate",
            concurrent,
            commands,
            f"{commands} get+rename+add a sample: {pools}; ratio of rates",
        )
        if latency:
            one = await paired(sides, sequential, (1, 1), pairs)
            found += results(
                op_name("async_latency", tags),
                "time",
                one,
                sequential,
                f"{sequential} get+rename+add a sample, one task against one thread; "
                "ratio of times per command",
            )
        if spread > 1:
            concurrent = await paired(sides, commands, (THREADS, TASKS), pairs, spread)
            found += results(
                op_name("async_concurrent", [f"{spread} categories", *tags]),
                "rate",
                concurrent,
                commands,
                f"{commands} get+rename+add a sample, each user in one of {spread} "
                f"categories drawn at random: {pools}; ratio of rates",
            )
    finally:
        sides.threads.shutdown()
        await async_store.close()
        sync_store.close()
    return found


UNCOALESCED = "no coalescing"
"""The variant whose async store sends each task's reads and commits on their own."""
UNFLUSHED = "synchronous_commit=off"
"""The variant's session setting: commits return before their WAL is flushed to disk."""


def unflushed(uri: str) -> str:
    """`uri` with `synchronous_commit=off` for its sessions (libpq's `options`)."""
    options = quote(f"-c {UNFLUSHED}")
    return f"{uri}{'&' if '?' in uri else '?'}options={options}"


async def measure_all(
    uri: str, sizes: Sizes, pairs: int, spread: int, tags: list[str]
) -> list[Result]:
    """The targets' workloads and the spread variant, then the concurrent one with
    commits not waiting for the disk (MessageDB holds its category lock until the WAL
    is flushed: without coalescing, one flush per command however many tasks wait;
    README: the async rows), then the concurrent one with the async store's
    coalescing off. `tags`: the event loop's, for every row."""
    found = await measure(uri, sizes, pairs, latency=True, spread=spread, tags=tags)
    found += await measure(
        unflushed(uri), sizes, pairs, latency=False, spread=0, tags=[UNFLUSHED, *tags]
    )
    found += await measure(
        uri, sizes, pairs, latency=False, spread=0, tags=[UNCOALESCED, *tags], coalesce=False
    )
    return found


LOOPS = {"asyncio": ["asyncio"], "uvloop": ["uvloop"], "both": ["asyncio", "uvloop"]}
"""The `loop` setting: the event loops to measure on, asyncio's own loop first."""


def run_on(loop: str, main: Coroutine[Any, Any, list[Result]]) -> list[Result]:
    """Run `main` to its end on a new event loop of asyncio's own or of uvloop."""
    if loop == "uvloop":
        import uvloop  # a benchmark dependency (the dev extra), never the runtime's

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    pairs = max(3, int(config.get("pairs", PAIRS)))
    loops = LOOPS[config.get("loop", "both")]
    spread = int(config.get("categories", CATEGORIES))
    found = []
    versions = {
        "aggregen": importlib.metadata.version("aggregen"),
        "python": sys.version.split()[0],
        "psycopg": importlib.metadata.version("psycopg"),
    }
    for loop in loops:
        if loop == "uvloop":
            try:
                versions["uvloop"] = importlib.metadata.version("uvloop")
            except importlib.metadata.PackageNotFoundError:
                log("async: uvloop is not installed (pip install -e '.[dev]'): no uvloop rows")
                continue
        tags = [] if loop == "asyncio" else [loop]
        found += run_on(loop, measure_all(uri, sizes, pairs, spread, tags))
    emit("async", versions, found)


if __name__ == "__main__":
    main()
