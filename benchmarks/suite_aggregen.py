"""aggregen's runtime under the benchmark workloads, in memory and on MessageDB.

Runs in the project's virtual environment. Uses the generated `identity` package
when `generated/identity` provides `User` and `UserRepository`, else the
hand-written `User` of `tests/domain.py` (the same aggregate).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aggregen.runtime import EventStore, Repository, UnitOfWork, connect

from .common import JOINED_ON, MESSAGEDB_URI, Result, Sizes, emit, log, parse_args, time_once

ROOT = Path(__file__).resolve().parent.parent

MakeRepository = Callable[[EventStore, int], Any]


def load_domain() -> tuple[str, Any, MakeRepository]:
    """The User class, a repository factory `(store, threshold)` and where they came from."""
    generated = ROOT / "generated"
    if (generated / "identity").is_dir():
        sys.path.insert(0, str(generated))
        try:
            identity = importlib.import_module("identity")
            user_class = identity.User
            repository_class = identity.UserRepository
        except (ImportError, AttributeError) as error:
            log(f"aggregen: generated/identity unusable ({error}); using tests/domain.py")
        else:

            def make_generated(store: EventStore, threshold: int) -> Any:
                try:
                    return repository_class(store, snapshot_threshold=threshold)
                except TypeError:
                    return Repository(user_class, store, snapshot_threshold=threshold)

            return "generated/identity", user_class, make_generated
    sys.path.insert(0, str(ROOT))
    user_class = importlib.import_module("tests.domain").User

    def make_hand_written(store: EventStore, threshold: int) -> Any:
        return Repository(user_class, store, snapshot_threshold=threshold)

    return "tests/domain.py", user_class, make_hand_written


class Workloads:
    """The workloads on one store."""

    def __init__(self, store_name: str, store: EventStore, sizes: Sizes) -> None:
        self.store_name = store_name
        self.store = store
        self.sizes = sizes
        self.source, self.user_class, make_repository = load_domain()
        self.plain = make_repository(store, 0)
        self.snapshotting = make_repository(store, 10)

    def register(self) -> Any:
        return self.user_class.register(
            email="ada@example.com", first_name="Ada", joined_on=JOINED_ON
        )

    def result(self, op: str, kind: str) -> Result:
        return Result(op=op, store=self.store_name, kind=kind)

    def one_command_per_commit(self) -> list[Result]:
        """Register, then get + rename + add; each command its own commit."""
        n = self.sizes.commands
        register = self.result("register", "rate")
        rename = self.result("rename", "rate")
        repo = self.plain
        for _ in range(self.sizes.repeat):
            users: list[Any] = []

            def register_all(users: list[Any] = users) -> None:
                for _ in range(n):
                    user = self.register()
                    repo.add(user)
                    users.append(user.id)

            register.samples.append(n / time_once(register_all))

            def rename_all(users: list[Any] = users) -> None:
                for i, user_id in enumerate(users):
                    user = repo.get(user_id)
                    user.rename(first_name=f"Ada {i}")
                    repo.add(user)

            rename.samples.append(n / time_once(rename_all))
        return [register, rename]

    def many_per_commit(self) -> list[Result]:
        """`batch` events of one new aggregate in one unit of work, `batches` times."""
        batch, batches = self.sizes.batch, self.sizes.batches
        result = self.result("append_batch", "rate")
        result.note = "register + renames in one UnitOfWork"
        repo = self.plain

        def append_all() -> None:
            for _ in range(batches):
                user = self.register()
                for i in range(batch - 1):
                    user.rename(first_name=f"Ada {i}")
                with UnitOfWork(self.store):
                    repo.add(user)

        for _ in range(self.sizes.repeat):
            result.samples.append(batch * batches / time_once(append_all))
        return [result]

    def write_stream(self, repo: Any, events: int) -> str:
        """A new user with `events` events, written in commits of up to 1,000."""
        user = self.register()
        written = 1
        while True:
            while written < events and len(user.pending_events) < 1000:
                user.rename(first_name=f"Ada {written}")
                written += 1
            with UnitOfWork(self.store):
                repo.add(user)
            if written >= events:
                return str(user.id)

    def rehydrate(self) -> list[Result]:
        """Get one aggregate of `stream` events, snapshots off and at threshold 10."""
        n = self.sizes.stream
        results = []
        for op, repo in (("rehydrate", self.plain), ("rehydrate_snapshot", self.snapshotting)):
            user_id = self.write_stream(repo, n)
            user = repo.get(user_id)
            if user._version != n - 1:
                raise AssertionError(f"read version {user._version}, wrote {n} events")
            result = self.result(op, "time")
            get: Callable[[], object] = functools.partial(repo.get, user_id)
            for _ in range(max(self.sizes.repeat, 5)):
                result.samples.append(time_once(get))
            results.append(result)
        return results

    def memory(self) -> list[Result]:
        """Peak memory above the aggregate while rehydrating `big_stream` events."""
        n = self.sizes.big_stream
        started = time.perf_counter()
        user_id = self.write_stream(self.plain, n)
        log(f"aggregen: wrote {n:,} events in {time.perf_counter() - started:.1f} s")
        timing = self.result("rehydrate_big", "time")
        timing.samples.append(time_once(lambda: self.plain.get(user_id)))
        tracemalloc.start()
        try:
            user = self.plain.get(user_id)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        if user._version != n - 1:
            raise AssertionError(f"read version {user._version}, wrote {n} events")
        above = self.result("memory_big", "bytes")
        above.samples.append(float(peak - kept))
        above.note = (
            f"peak {peak / 1e6:.1f} MB; still allocated after get (the aggregate): "
            f"{kept / 1e3:.1f} kB"
        )
        return [timing, above]


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    stores = config.get("stores", ["memory", "messagedb"])
    uri = config.get("uri", MESSAGEDB_URI)
    run_memory = config.get("memory", True)
    results: list[Result] = []
    source = ""
    for store_name in stores:
        store = connect("memory://" if store_name == "memory" else uri)
        try:
            work = Workloads(store_name, store, sizes)
            source = work.source
            log(f"aggregen: {store_name} ({work.source})")
            results += work.one_command_per_commit()
            results += work.many_per_commit()
            results += work.rehydrate()
            if run_memory and store_name == "messagedb":
                results += work.memory()
        finally:
            store.close()
    versions = {
        "aggregen": importlib.metadata.version("aggregen"),
        "aggregen domain": source,
        "psycopg": importlib.metadata.version("psycopg"),
        "orjson": importlib.metadata.version("orjson"),
        "python": sys.version.split()[0],
    }
    emit("aggregen", versions, results)


if __name__ == "__main__":
    main()
