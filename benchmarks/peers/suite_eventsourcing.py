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
import importlib.metadata
import sys
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Transcoder, Transcoding

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
    versions = {
        "eventsourcing": importlib.metadata.version("eventsourcing"),
        "psycopg": importlib.metadata.version("psycopg"),
        "python": sys.version.split()[0],
    }
    emit("eventsourcing", versions, results)


if __name__ == "__main__":
    main()
