"""aggregen's runtime under the benchmark workloads, in memory and on MessageDB.

Runs in the project's virtual environment. Uses the generated `identity` package
when `generated/identity` provides `User` and `UserRepository`, else the
hand-written `User` of `tests/domain.py` (the same aggregate).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.metadata
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from aggregen.runtime import (
    AsyncConsumer,
    AsyncMessageDBEventStore,
    AsyncPostgresProjectionTarget,
    AsyncProjector,
    Consumer,
    ConsumerGroup,
    EventStore,
    PostgresProjectionTarget,
    Projector,
    Repository,
    UnitOfWork,
    connect,
)

from .common import (
    JOINED_ON,
    MESSAGEDB_URI,
    Result,
    Sizes,
    emit,
    log,
    parse_args,
    time_call,
    time_once,
)
from .read_side import (
    APP_DATABASE,
    CREATE_USERS,
    READ_BATCH,
    REGISTER,
    RENAME,
    check_users,
    database_uri,
    ensure_category,
)

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


def load_handler() -> type[Any] | None:
    """The generated `UserHandler` of `generated/identity`, or None without it."""
    sys.path.insert(0, str(ROOT / "generated"))
    try:
        handler: type[Any] = importlib.import_module("identity").UserHandler
    except (ImportError, AttributeError) as error:
        log(f"aggregen: no generated UserHandler ({error}); read-side workloads skipped")
        return None
    return handler


class ReadSide:
    """The read-side workloads on MessageDB: a consumer, a projection, a member's read.

    All read the category of `read_side.ensure_category`, `READ_BATCH` messages a read.
    """

    def __init__(self, store: EventStore, uri: str, sizes: Sizes, handler: type[Any]) -> None:
        self.store = store
        self.sizes = sizes
        self.events = sizes.category
        self.category = ensure_category(uri, self.events, log)
        self.app_uri = database_uri(uri, APP_DATABASE)
        self.handler_class = handler
        self.uri = uri

        class NoOp(handler):  # type: ignore[misc]
            """The generated handler as it is: every `on_<event>` does nothing.

            It handles no type, so its consumer decodes no message (as in Eventide).
            """

        def nothing(self: Any, event: Any) -> None:
            """An `on_<event>` override that does nothing with its decoded event."""

        methods = getattr(handler, "__handler_methods__", {}).values()
        self.no_op = NoOp
        self.decoding: type[Any] = type("Decoding", (handler,), dict.fromkeys(methods, nothing))
        """A handler of every type whose methods do nothing: each message decoded."""

    def result(self, op: str, kind: str, note: str = "") -> Result:
        return Result(op=op, store="messagedb", kind=kind, note=note)

    def consume_once(self, decoded: bool = False) -> int:
        """One consumer, new, over the whole category; returns how many it handled.

        The handler is a subclass of the generated `UserHandler` as it is: every
        `on_<event>` the generated no-op, so no message is decoded; with `decoded`,
        one that overrides every `on_<event>` with a method doing nothing, so each
        message is decoded to its typed event and dispatched.
        """
        consumer = Consumer(
            self.store,
            self.category,
            self.decoding() if decoded else self.no_op(),
            name=f"bench{uuid.uuid4().hex[:12]}",
            batch_size=READ_BATCH,
            position_update_interval=READ_BATCH,
        )
        handled: int = consumer.catch_up()
        return handled

    def consume(self) -> list[Result]:
        """A consumer with a no-op generated handler over the whole category, and one
        whose handler decodes every event (overriding each `on_<event>` with a no-op)."""
        results = []
        for op, decoded, handler in (
            ("consume", False, "no-op UserHandler subclass (no message decoded)"),
            ("consume_decoded", True, "UserHandler subclass, every on_<event> a no-op override"),
        ):
            result = self.result(
                op,
                "rate",
                f"Consumer, {handler}, batches of {READ_BATCH}, "
                f"position recorded every {READ_BATCH}",
            )
            for _ in range(self.sizes.repeat):
                seconds, handled = time_call(functools.partial(self.consume_once, decoded))
                if handled != self.events:
                    raise AssertionError(f"consumer handled {handled}, not {self.events}")
                result.samples.append(self.events / seconds)
            results.append(result)
        return results

    def consume_async(self) -> list[Result]:
        """`consume` with an `AsyncConsumer` on `AsyncMessageDBEventStore`, one task."""
        result = self.result(
            "consume_async",
            "rate",
            f"AsyncConsumer, the same no-op handler awaited, batches of {READ_BATCH}",
        )
        handler = self.no_op()

        class Awaited:
            async def handle(self, message: Any) -> None:
                handler.handle(message)

        async def consume_once() -> int:
            async with AsyncMessageDBEventStore(self.uri, max_size=1) as store:
                consumer = AsyncConsumer(
                    store,
                    self.category,
                    Awaited(),
                    name=f"bench{uuid.uuid4().hex[:12]}",
                    batch_size=READ_BATCH,
                    position_update_interval=READ_BATCH,
                )
                return await consumer.catch_up()

        for _ in range(self.sizes.repeat):
            seconds, handled = time_call(lambda: asyncio.run(consume_once()))
            if handled != self.events:
                raise AssertionError(f"async consumer handled {handled}, not {self.events}")
            result.samples.append(self.events / seconds)
        return [result]

    def project(self) -> list[Result]:
        """An exactly-once projection of the whole category into a PostgreSQL table."""
        result = self.result(
            "project",
            "rate",
            f"Projector + PostgresProjectionTarget, UserHandler subclass, one "
            f"transaction per {READ_BATCH} events",
        )
        table = f"bench_users_{uuid.uuid4().hex[:12]}"
        register, rename = REGISTER.format(table), RENAME.format(table)

        class UsersTable(self.handler_class):  # type: ignore[name-defined,misc]
            """Users by id: a row per Registered, an update per Renamed."""

            def on_registered(self, event: Any) -> None:
                user_id = event.metadata.stream_name.split("-", 1)[1]
                self.session.execute(register, (user_id, event.email, event.first_name))

            def on_renamed(self, event: Any) -> None:
                user_id = event.metadata.stream_name.split("-", 1)[1]
                self.session.execute(rename, (event.first_name, user_id))

        target = PostgresProjectionTarget(self.app_uri)
        try:
            with psycopg.connect(self.app_uri, autocommit=True) as conn:
                for _ in range(max(1, self.sizes.repeat // 3)):
                    conn.execute(CREATE_USERS.format(table))
                    projector = Projector(
                        self.store,
                        self.category,
                        UsersTable(),
                        target,
                        name=f"bench{uuid.uuid4().hex[:12]}",
                        batch_size=READ_BATCH,
                    )
                    seconds, handled = time_call(projector.catch_up)
                    if handled != self.events:
                        raise AssertionError(f"projector handled {handled}, not {self.events}")
                    check_users(conn, table, self.events)
                    conn.execute(f"DROP TABLE {table}")
                    result.samples.append(self.events / seconds)
        finally:
            target.close()
        return [result]

    def project_async(self) -> list[Result]:
        """`project` with an `AsyncProjector` and `AsyncPostgresProjectionTarget`."""
        result = self.result(
            "project_async",
            "rate",
            f"AsyncProjector + AsyncPostgresProjectionTarget, the same SQL awaited, one "
            f"transaction per {READ_BATCH} events",
        )
        table = f"bench_users_{uuid.uuid4().hex[:12]}"
        register, rename = REGISTER.format(table), RENAME.format(table)

        class Rows(self.handler_class):  # type: ignore[name-defined,misc]
            """`project`'s handler, keeping the statement to run instead of running it."""

            row: tuple[str, tuple[Any, ...]]

            def on_registered(self, event: Any) -> None:
                user_id = event.metadata.stream_name.split("-", 1)[1]
                self.row = (register, (user_id, event.email, event.first_name))

            def on_renamed(self, event: Any) -> None:
                user_id = event.metadata.stream_name.split("-", 1)[1]
                self.row = (rename, (event.first_name, user_id))

        rows = Rows()

        class UsersTable:
            """Users by id, as `project` keeps them: decoded the same way, SQL awaited."""

            async def handle(self, message: Any, session: Any) -> None:
                rows.handle(message)
                await session.execute(*rows.row)

        async def project_once() -> int:
            async with (
                AsyncMessageDBEventStore(self.uri, max_size=1) as store,
                AsyncPostgresProjectionTarget(self.app_uri) as target,
            ):
                projector = AsyncProjector(
                    store,
                    self.category,
                    UsersTable(),
                    target,
                    name=f"bench{uuid.uuid4().hex[:12]}",
                    batch_size=READ_BATCH,
                )
                return await projector.catch_up()

        with psycopg.connect(self.app_uri, autocommit=True) as conn:
            for _ in range(max(1, self.sizes.repeat // 3)):
                conn.execute(CREATE_USERS.format(table))
                seconds, handled = time_call(lambda: asyncio.run(project_once()))
                if handled != self.events:
                    raise AssertionError(f"async projector handled {handled}, not {self.events}")
                check_users(conn, table, self.events)
                conn.execute(f"DROP TABLE {table}")
                result.samples.append(self.events / seconds)
        return [result]

    def member_read(self) -> list[Result]:
        """One consumer-group member's read of `READ_BATCH` messages (member 0 of 4)."""
        group = ConsumerGroup(0, 4)
        # Member 0 holds about a quarter of the streams, drawn at random: at tiny sizes
        # (200 streams) a quarter of the messages is a coin flip, an eighth is certain.
        size = min(READ_BATCH, self.events // 8)
        result = self.result(
            "group_read",
            "time",
            f"read_category, member 0 of 4, {size} messages from the category's start",
        )
        read = functools.partial(
            self.store.read_category, self.category, 1, batch_size=size, consumer_group=group
        )
        if len(read()) != size:
            raise AssertionError(f"a member's read did not return {size} messages")
        for _ in range(max(self.sizes.repeat, 5)):
            result.samples.append(time_once(read))
        return [result]


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
            handler = load_handler() if store_name == "messagedb" else None
            if handler is not None:
                read_side = ReadSide(store, uri, sizes, handler)
                results += read_side.consume()
                results += read_side.consume_async()
                results += read_side.project()
                results += read_side.project_async()
                results += read_side.member_read()
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
