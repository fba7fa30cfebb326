"""eventsourcing 9.5 under the benchmark workloads, on its POPO and PostgreSQL stores.

Runs in the peers' virtual environment (benchmarks/.venv-peers). The User is an
`eventsourcing.domain.Aggregate` with `@event` methods, kept by an `Application`
whose `save` writes an aggregate's pending events in one transaction. Dates need
a transcoding, registered the documented way. Its PostgreSQL store keeps its own
tables, in their own database (`eventsourcing_bench`, created when missing).
Snapshots: `snapshotting_intervals` makes `save` write one every 10 versions.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import importlib.metadata
import sys
import threading
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking, TrackingRecorder, Transcoder, Transcoding
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from benchmarks.common import (
    JOINED_ON,
    MESSAGEDB_URI,
    Result,
    Sizes,
    emit,
    log,
    parse_args,
    time_once,
)
from benchmarks.read_side import CREATE_USERS, EVENTS_PER_STREAM, REGISTER, RENAME

DATABASE = "eventsourcing_bench"


class User(Aggregate):
    @event("Registered")
    def __init__(self, email: str, first_name: str | None, joined_on: datetime.date | None) -> None:
        self.email = email
        self.first_name = first_name
        self.joined_on = joined_on

    @event("Renamed")
    def rename(self, first_name: str) -> None:
        self.first_name = first_name


class DateAsIsoString(Transcoding):
    type = datetime.date
    name = "date_iso"

    def encode(self, obj: datetime.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> datetime.date:
        return datetime.date.fromisoformat(data)


class Users(Application[UUID]):
    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsIsoString())


class SnapshottingUsers(Users):
    snapshotting_intervals = {User: 10}  # noqa: RUF012 (eventsourcing's documented form)


def postgres_env(uri: str) -> dict[str, str]:
    """eventsourcing's settings for the server of `uri`, in database `eventsourcing_bench`."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    with psycopg.connect(
        psycopg.conninfo.make_conninfo(uri, dbname="postgres"), autocommit=True
    ) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if found is None:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": DATABASE,
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
    }


class Workloads:
    def __init__(self, store: str, env: dict[str, str], sizes: Sizes) -> None:
        self.store = store
        self.sizes = sizes
        self.app = Users(env=env)
        self.snapshotting = SnapshottingUsers(env=env)

    def result(self, op: str, kind: str) -> Result:
        return Result(op=op, store=self.store, kind=kind)

    @staticmethod
    def register() -> User:
        return User(email="ada@example.com", first_name="Ada", joined_on=JOINED_ON)

    def one_command_per_commit(self) -> list[Result]:
        n = self.sizes.commands
        register = self.result("register", "rate")
        rename = self.result("rename", "rate")
        app = self.app
        for _ in range(self.sizes.repeat):
            ids: list[UUID] = []

            def register_all(ids: list[UUID] = ids) -> None:
                for _ in range(n):
                    user = self.register()
                    app.save(user)
                    ids.append(user.id)

            register.samples.append(n / time_once(register_all))

            def rename_all(ids: list[UUID] = ids) -> None:
                for i, user_id in enumerate(ids):
                    user: Any = app.repository.get(user_id)
                    user.rename(first_name=f"Ada {i}")
                    app.save(user)

            rename.samples.append(n / time_once(rename_all))
        return [register, rename]

    def many_per_commit(self) -> list[Result]:
        batch, batches = self.sizes.batch, self.sizes.batches
        result = self.result("append_batch", "rate")
        result.note = "new aggregate + renames, one save"

        def append_all() -> None:
            for _ in range(batches):
                user = self.register()
                for i in range(batch - 1):
                    user.rename(first_name=f"Ada {i}")
                self.app.save(user)

        for _ in range(self.sizes.repeat):
            result.samples.append(batch * batches / time_once(append_all))
        return [result]

    @staticmethod
    def write_stream(app: Users, events: int) -> UUID:
        user = Workloads.register()
        for i in range(1, events):
            user.rename(first_name=f"Ada {i}")
            if i % 100 == 99:
                app.save(user)
        app.save(user)
        return user.id

    def rehydrate(self) -> list[Result]:
        n = self.sizes.stream
        results = []
        for op, app in (("rehydrate", self.app), ("rehydrate_snapshot", self.snapshotting)):
            user_id = self.write_stream(app, n)
            user: Any = app.repository.get(user_id)
            if user.version != n:  # eventsourcing counts versions from 1
                raise AssertionError(f"read version {user.version}, wrote {n} events")
            result = self.result(op, "time")
            for _ in range(max(self.sizes.repeat, 5)):
                result.samples.append(time_once(lambda app=app, i=user_id: app.repository.get(i)))
            results.append(result)
        return results

    def close(self) -> None:
        self.app.close()
        self.snapshotting.close()


class ReadSide:
    """The read-side workloads: eventsourcing's projections over `category` events.

    The events are User events of `category // 10` users, 10 each, saved round by
    round as `read_side` writes them for MessageDB, by an application of their own
    (`ReadUsers<N>`, so its notification log holds only them), written once and
    reused. eventsourcing's projections (`ProjectionRunner`) follow the log in
    batches of 500 and commit one event at a time with its tracking record; the
    timing runs from the runner's start to the moment the last event is tracked.
    """

    def __init__(self, env: dict[str, str], uri: str, sizes: Sizes) -> None:
        self.env = env
        self.uri = uri
        self.sizes = sizes
        self.events = sizes.category
        self.app_class: type[Users] = type(f"ReadUsers{self.events}", (Users,), {})
        self.last_ids = self.ensure_events()

    def ensure_events(self) -> list[int]:
        """The notification ids of the application's events, saving them if missing."""
        app = self.app_class(env=self.env)
        try:
            found = app.recorder.max_notification_id() or 0
            if not found:
                log(f"eventsourcing: saving {self.events:,} events into {app.name} (once)")
                users = [
                    User(email=f"user{n}@example.com", first_name="Ada", joined_on=JOINED_ON)
                    for n in range(max(1, self.events // EVENTS_PER_STREAM))
                ]
                saved = 0
                for round_number in range(EVENTS_PER_STREAM):
                    for start in range(0, len(users), 1000):
                        chunk = users[start : start + 1000][: self.events - saved]
                        if round_number:
                            for user in chunk:
                                user.rename(first_name=f"Ada {round_number}")
                        if chunk:
                            app.save(*chunk)
                            saved += len(chunk)
            table = app.recorder.events_table_name
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                rows = conn.execute(
                    SQL("SELECT notification_id FROM {} ORDER BY 1").format(Identifier(table))
                ).fetchall()
            ids = [row[0] for row in rows]
            if len(ids) != self.events:
                raise RuntimeError(
                    f"{app.name} holds {len(ids):,} events, not {self.events:,}: drop its "
                    f"table {app.name.lower()}_events in {DATABASE} or use another size"
                )
            return ids
        finally:
            app.close()

    def result(self, op: str, kind: str, note: str) -> Result:
        return Result(op=op, store="messagedb", kind=kind, note=note)

    def follow(
        self, projection_class: type[Any], view_class: type[Any], env: dict[str, str]
    ) -> float:
        """Seconds from starting a `ProjectionRunner` to its projection's `done` event."""
        done: threading.Event = projection_class.done
        done.clear()

        def run() -> None:
            with ProjectionRunner(
                application_class=self.app_class,
                projection_class=projection_class,
                view_class=view_class,
                env=env,
            ) as runner:
                while not done.wait(0.05):
                    if runner.is_interrupted.is_set():
                        break  # the runner failed: leaving the block raises its error
                runner.stop()

        return time_once(run)

    def consume(self) -> list[Result]:
        """A projection whose `process_event` only records tracking, in memory."""
        last = self.last_ids[-1]
        done = threading.Event()

        class NoOpConsumer(Projection[TrackingRecorder]):
            """Handles each event by doing nothing but tracking it (a no-op consumer)."""

            @functools.singledispatchmethod
            def process_event(self, domain_event: Any, tracking: Tracking) -> None:
                self.view.insert_tracking(tracking)
                if tracking.notification_id >= last:
                    done.set()

        NoOpConsumer.done = done
        env = {**self.env, "NOOPCONSUMER_PERSISTENCE_MODULE": "eventsourcing.popo"}
        result = self.result(
            "consume",
            "rate",
            "ProjectionRunner, no-op process_event, tracking in its POPO (in-memory) recorder",
        )
        for _ in range(self.sizes.repeat):
            seconds = self.follow(NoOpConsumer, POPOTrackingRecorder, env)
            result.samples.append(self.events / seconds)
        return [result]

    def project(self) -> list[Result]:
        """The users table (the same SQL), exactly once, into eventsourcing's database."""
        count = min(self.events, self.sizes.peer_projection)
        last = self.last_ids[count - 1]
        done = threading.Event()

        class UsersView(PostgresTrackingRecorder):
            """The users table, updated with each event's tracking in one transaction."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                name = self.tracking_table_name.removesuffix("_tracking") + "_users"
                table = Identifier(self.datastore.schema, name)
                create = CREATE_USERS.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
                self.sql_create_statements.append(SQL(create).format(table))
                self.register_sql = SQL(REGISTER).format(table)
                self.rename_sql = SQL(RENAME).format(table)

            def apply(self, statement: Any, params: tuple[Any, ...], tracking: Tracking) -> None:
                with self.datastore.transaction(commit=True) as cursor:
                    cursor.execute(statement, params, prepare=True)
                    self._insert_tracking(cursor, tracking)
                if tracking.notification_id >= last:
                    done.set()

        class UsersProjection(Projection[UsersView]):
            """Users by id: a row per Registered, an update per Renamed."""

            @functools.singledispatchmethod
            def process_event(self, domain_event: Any, tracking: Tracking) -> None:
                raise TypeError(f"unexpected event {domain_event!r}")

            @process_event.register
            def _(self, domain_event: User.Registered, tracking: Tracking) -> None:
                params = (str(domain_event.originator_id), domain_event.email,
                          domain_event.first_name)  # fmt: skip
                self.view.apply(self.view.register_sql, params, tracking)

            @process_event.register
            def _(self, domain_event: User.Renamed, tracking: Tracking) -> None:
                params = (domain_event.first_name, str(domain_event.originator_id))
                self.view.apply(self.view.rename_sql, params, tracking)

        UsersProjection.done = done
        result = self.result(
            "project",
            "rate",
            f"ProjectionRunner + PostgresTrackingRecorder view, same SQL, one transaction "
            f"per event; the first {count:,} events",
        )
        for _ in range(max(1, self.sizes.repeat // 3)):
            self.drop_tables("usersprojection")
            seconds = self.follow(UsersProjection, UsersView, self.env)
            result.samples.append(count / seconds)
        self.drop_tables("usersprojection")
        return [result]

    def conninfo(self) -> str:
        """The connection string of eventsourcing's database."""
        info = psycopg.conninfo.conninfo_to_dict(self.uri)
        return psycopg.conninfo.make_conninfo("", **{**info, "dbname": DATABASE})

    def drop_tables(self, prefix: str) -> None:
        """Drop a projection's tables, so that the next run starts from nothing."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            for suffix in ("tracking", "users"):
                conn.execute(f"DROP TABLE IF EXISTS {prefix}_{suffix}")


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    results: list[Result] = []
    for store in config.get("stores", ["memory", "messagedb"]):
        log(f"eventsourcing: {store}")
        env = {} if store == "memory" else postgres_env(uri)
        # Reported on the PostgreSQL row ("messagedb"), though in its own tables.
        work = Workloads(store, env, sizes)
        try:
            results += work.one_command_per_commit()
            results += work.many_per_commit()
            results += work.rehydrate()
        finally:
            work.close()
        if store == "messagedb" and config.get("read_side", True):
            read_side = ReadSide(env, uri, sizes)
            results += read_side.consume()
            results += read_side.project()
    versions = {
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "psycopg": importlib.metadata.version("psycopg"),
        "python": sys.version.split()[0],
    }
    emit("eventsourcing", versions, results)


if __name__ == "__main__":
    # Run from the module as imported, so that the topics eventsourcing stores name
    # `benchmarks.peers.suite_eventsourcing:User`, not `__main__:User`: the read-side
    # events are written once and read back by later runs.
    importlib.import_module("benchmarks.peers.suite_eventsourcing").main()
