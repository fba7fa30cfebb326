"""Protean 0.18 under the benchmark workloads, on its in-memory and MessageDB stores.

Runs in the peers' virtual environment (benchmarks/.venv-peers). The User
aggregate is event-sourced the way Protean documents it: `@domain.aggregate(
event_sourced=True)`, events declared `part_of` it, one `@apply` method per event,
the event-sourced repository from `domain.repository_for`, and `UnitOfWork` for
many events in one commit. Protean writes snapshots when it loads an aggregate
whose stream passed the threshold, so the snapshot workload loads once first.
"""

# No `from __future__ import annotations`: `@apply` reads the event class from
# the annotation of its argument, which must be a class, not a string.

import dataclasses
import importlib.metadata
import sys
import uuid
from typing import Any

from protean import Domain, UnitOfWork, apply
from protean.fields import Date, Identifier, String

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

NO_SNAPSHOTS = 10**9


def build_domain(store: str, uri: str) -> tuple[Domain, Any]:
    """A Protean domain holding the User aggregate, on the store named."""
    domain = Domain(name="bench")
    if store == "messagedb":
        search_path = "options=-c%20search_path%3Dmessage_store,public"
        separator = "&" if "?" in uri else "?"
        domain.config["event_store"] = {
            "provider": "message_db",
            "database_uri": f"{uri}{separator}{search_path}",
        }
    domain.config["snapshot_threshold"] = NO_SNAPSHOTS

    @domain.event(part_of="User")
    class Registered:
        user_id = Identifier(required=True)
        email = String(required=True)
        first_name = String()
        joined_on = Date()

    @domain.event(part_of="User")
    class Renamed:
        user_id = Identifier(required=True)
        first_name = String(required=True)

    @domain.aggregate(event_sourced=True, stream_category="protean_user")
    class User:
        email = String()
        first_name = String()
        joined_on = Date()

        @classmethod
        def register(cls, *, email: str, first_name: str, joined_on: Any) -> Any:
            user = cls(id=str(uuid.uuid4()))
            user.raise_(
                Registered(user_id=user.id, email=email, first_name=first_name, joined_on=joined_on)
            )
            return user

        def rename(self, *, first_name: str) -> None:
            self.raise_(Renamed(user_id=self.id, first_name=first_name))

        @apply
        def registered(self, event: Registered) -> None:
            self.id = event.user_id
            self.email = event.email
            self.first_name = event.first_name
            self.joined_on = event.joined_on

        @apply
        def renamed(self, event: Renamed) -> None:
            self.first_name = event.first_name

    domain.init(traverse=False)
    return domain, User


class Workloads:
    def __init__(self, store: str, domain: Domain, user_class: Any, sizes: Sizes) -> None:
        self.store = store
        self.domain = domain
        self.user_class = user_class
        self.sizes = sizes
        self.repo = domain.repository_for(user_class)

    def register(self) -> Any:
        return self.user_class.register(
            email="ada@example.com", first_name="Ada", joined_on=JOINED_ON
        )

    def result(self, op: str, kind: str) -> Result:
        return Result(op=op, store=self.store, kind=kind)

    def reset(self) -> None:
        """Empty Protean's in-memory store: its writes scan every stored message."""
        if self.store == "memory":
            self.domain.event_store.store._data_reset()

    def one_command_per_commit(self) -> list[Result]:
        n = self.sizes.commands
        register = self.result("register", "rate")
        rename = self.result("rename", "rate")
        repo = self.repo
        for _ in range(self.sizes.repeat):
            self.reset()
            ids: list[str] = []

            def register_all(ids: list[str] = ids) -> None:
                for _ in range(n):
                    user = self.register()
                    repo.add(user)
                    ids.append(user.id)

            register.samples.append(n / time_once(register_all))

            def rename_all(ids: list[str] = ids) -> None:
                for i, user_id in enumerate(ids):
                    user = repo.get(user_id)
                    user.rename(first_name=f"Ada {i}")
                    repo.add(user)

            rename.samples.append(n / time_once(rename_all))
        return [register, rename]

    def many_per_commit(self) -> list[Result]:
        batch, batches = self.sizes.batch, self.sizes.batches
        result = self.result("append_batch", "rate")
        result.note = "register + renames in one UnitOfWork"

        def append_all() -> None:
            for _ in range(batches):
                user = self.register()
                for i in range(batch - 1):
                    user.rename(first_name=f"Ada {i}")
                with UnitOfWork():
                    self.repo.add(user)

        for _ in range(self.sizes.repeat):
            self.reset()
            result.samples.append(batch * batches / time_once(append_all))
        return [result]

    def write_stream(self, events: int) -> str:
        user = self.register()
        for i in range(1, events):
            user.rename(first_name=f"Ada {i}")
            if len(user._events) == 1000 or i == events - 1:
                with UnitOfWork():
                    self.repo.add(user)
        if events == 1:
            self.repo.add(user)
        return str(user.id)

    def rehydrate(self) -> list[Result]:
        """Load a stream of `stream` events, snapshots off and at threshold 10.

        Protean's in-memory store scans every stored message per read and write
        (about 40 s to load 1,000 events here), so on it each load runs once.
        """
        n = self.sizes.stream
        results = []
        self.reset()
        slow = self.store == "memory"
        for op, threshold in (("rehydrate", NO_SNAPSHOTS), ("rehydrate_snapshot", 10)):
            self.domain.config["snapshot_threshold"] = threshold
            user_id = self.write_stream(n)
            if threshold != NO_SNAPSHOTS or not slow:
                self.repo.get(user_id)  # with a threshold, this writes the snapshot
            result = self.result(op, "time")
            for _ in range(1 if slow else max(self.sizes.repeat, 5)):
                user: Any = None

                def get(user_id: str = user_id) -> None:
                    nonlocal user
                    user = self.repo.get(user_id)

                result.samples.append(time_once(get))
                if user is None or user._version != n - 1:
                    raise AssertionError(f"read version {user and user._version}, wrote {n} events")
            if slow:
                result.note = "1 sample: Protean's in-memory store is quadratic"
            results.append(result)
        self.domain.config["snapshot_threshold"] = NO_SNAPSHOTS
        return results


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    uri = config.get("uri", MESSAGEDB_URI)
    results: list[Result] = []
    for store in config.get("stores", ["memory", "messagedb"]):
        log(f"protean: {store}")
        domain, user_class = build_domain(store, uri)
        store_sizes = sizes
        if store == "memory":
            # Its in-memory store scans every stored message on each read and write:
            # keep its write workloads small, and rehydrate only when asked (--slow-peers).
            store_sizes = dataclasses.replace(
                sizes, commands=min(sizes.commands, 50), batches=min(sizes.batches, 3)
            )
        with domain.domain_context():
            work = Workloads(store, domain, user_class, store_sizes)
            results += work.one_command_per_commit()
            results += work.many_per_commit()
            if store != "memory" or config.get("slow_peers", False):
                results += work.rehydrate()
            if store == "memory":
                for result in results[-3:]:
                    if result.store == "memory" and result.op != "rehydrate":
                        result.note = result.note or "at most 50 commands / 3 batches (slow store)"
    versions = {
        "protean": importlib.metadata.version("protean"),
        "message-db-py": importlib.metadata.version("message-db-py"),
        "psycopg2": importlib.metadata.version("psycopg2-binary"),
        "python": sys.version.split()[0],
    }
    emit("protean", versions, results)


if __name__ == "__main__":
    main()
