"""Retries: after a conflict (`update_with_retry`) and after a commit of unknown outcome."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from aggregen.runtime import (
    EventStore,
    EventStoreError,
    ExpectedVersionError,
    RecordedMessage,
    Repository,
    StreamWrite,
    UnitOfWork,
    update_with_retry,
)
from aggregen.runtime.store import ClosingStore
from tests.domain import User


class LosesTheAnswer(ClosingStore):
    """A store whose first append commits, then reports a lost connection."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.failures = 1

    def append(self, writes: Sequence[StreamWrite]) -> None:
        self.inner.append(writes)
        if self.failures:
            self.failures -= 1
            raise EventStoreError("connection lost while committing")

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        return self.inner.read(stream_name, position)

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        return self.inner.read_last(stream_name)

    def read_category(
        self, category: str, position: int = 1, **options: Any
    ) -> list[RecordedMessage]:
        return self.inner.read_category(category, position, **options)

    def stream_version(self, stream_name: str) -> int:
        return self.inner.stream_version(stream_name)

    def close(self) -> None:
        self.inner.close()


def test_adding_again_after_an_unknown_outcome_stores_the_events_once(
    store: EventStore,
) -> None:
    flaky = LosesTheAnswer(store)
    users = Repository(User, flaky)
    user = User.register(email="once@example.org")
    user.rename(first_name="Once")

    with pytest.raises(EventStoreError):
        users.add(user)
    assert len(user.pending_events) == 2, "the aggregate does not know its events were stored"
    users.add(user)

    assert [m.type for m in store.read(f"user-{user.id}")] == ["Registered", "Renamed"]
    assert not user.pending_events


def test_update_with_retry_reapplies_the_command_on_a_fresh_aggregate(
    store: EventStore,
) -> None:
    users = Repository(User, store)
    user = User.register(email="r@example.org", first_name="A")
    users.add(user)
    calls = 0

    def rename_and_interfere(target: User) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else writes between our get and our add
            other = users.get(user.id)
            other.rename(first_name="Other")
            users.add(other)
        target.rename(first_name=f"{target.first_name}+B")

    stored = update_with_retry(users, user.id, rename_and_interfere)

    assert calls == 2
    assert stored.first_name == "Other+B"
    assert users.get(user.id)._version == 2


def test_update_with_retry_gives_up_after_its_attempts(store: EventStore) -> None:
    users = Repository(User, store)
    user = User.register(email="g@example.org")
    users.add(user)

    def always_interfere(target: User) -> None:
        other = users.get(user.id)
        other.rename(first_name="Other")
        users.add(other)
        target.rename(first_name="Mine")

    with pytest.raises(ExpectedVersionError):
        update_with_retry(users, user.id, always_interfere, attempts=3, max_delay=0)
    assert users.get(user.id)._version == 3


def test_update_with_retry_refuses_to_run_inside_a_unit_of_work(store: EventStore) -> None:
    users = Repository(User, store)
    with pytest.raises(RuntimeError, match="UnitOfWork"), UnitOfWork(store):
        update_with_retry(users, str(uuid.uuid4()), lambda user: None)


def test_with_retries_every_concurrent_command_succeeds(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    users = Repository(User, messagedb_store)
    ids = []
    for _ in range(3):
        user = User.register(email="c@example.org", first_name="")
        users.add(user)
        ids.append(user.id)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(15):
                update_with_retry(
                    users,
                    ids[n % 3],
                    lambda user: user.rename(first_name=f"{user.first_name}{worker}"[-40:]),
                    attempts=50,
                )
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert sum(messagedb_store.stream_version(f"user-{i}") for i in ids) == 6 * 15
