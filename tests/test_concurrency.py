"""Several threads and processes write the same streams of real MessageDB at once.

Every attempt either stores its event exactly once or gets `ExpectedVersionError`;
afterwards each stream's positions run 0..n without a gap, and its events are
exactly the successful attempts' ones.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections import Counter

import pytest

from aggregen.runtime import (
    EventStore,
    ExpectedVersionError,
    Repository,
    UnitOfWork,
    connect,
)
from tests.domain import User

STREAMS = 5
ATTEMPTS_PER_WORKER = 40


def hammer(uri: str, user_ids: list[str], worker: int) -> tuple[list[str], int]:
    """Rename users many times; return the names stored and the conflicts seen."""
    store = connect(uri, max_size=2)
    users = Repository(User, store, snapshot_threshold=7)
    stored: list[str] = []
    conflicts = 0
    try:
        for attempt in range(ATTEMPTS_PER_WORKER):
            user_id = user_ids[(attempt + worker) % len(user_ids)]
            user = users.get(user_id)
            name = f"w{worker}-a{attempt}"
            user.rename(first_name=name)
            try:
                users.add(user)
            except ExpectedVersionError:
                conflicts += 1
            else:
                stored.append(name)
    finally:
        store.close()
    return stored, conflicts


def seed(store: EventStore) -> list[str]:
    users = Repository(User, store)
    ids = [str(uuid.uuid4()) for _ in range(STREAMS)]
    for user_id in ids:
        users.add(User.register(email=f"{user_id}@example.org", id=user_id))
    return ids


def verify(store: EventStore, user_ids: list[str], stored: list[str]) -> None:
    names: list[str] = []
    for user_id in user_ids:
        messages = list(store.read(f"user-{user_id}"))
        assert [m.position for m in messages] == list(range(len(messages)))
        assert messages[0].type == "Registered"
        names.extend(m.data["first_name"] for m in messages[1:])
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    assert duplicates == []
    assert sorted(names) == sorted(stored)


def test_threads_writing_the_same_streams_lose_and_duplicate_nothing(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    user_ids = seed(messagedb_store)
    results: list[tuple[list[str], int]] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        outcome = hammer(messagedb_uri, user_ids, worker)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 6, "a worker thread failed or hung"

    stored = [name for names, _ in results for name in names]
    conflicts = sum(c for _, c in results)
    assert len(stored) + conflicts == 6 * ATTEMPTS_PER_WORKER
    verify(messagedb_store, user_ids, stored)
    assert conflicts > 0, "the workload is meant to collide"


def test_processes_writing_the_same_streams_lose_and_duplicate_nothing(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    user_ids = seed(messagedb_store)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        outcomes = pool.starmap(hammer, [(messagedb_uri, user_ids, worker) for worker in range(4)])

    stored = [name for names, _ in outcomes for name in names]
    conflicts = sum(c for _, c in outcomes)
    assert len(stored) + conflicts == 4 * ATTEMPTS_PER_WORKER
    verify(messagedb_store, user_ids, stored)


def test_units_of_work_over_two_categories_in_opposite_orders_do_not_deadlock(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    from tests.domain import BankAccount

    accounts = Repository(BankAccount, messagedb_store)
    users = Repository(User, messagedb_store)
    errors: list[BaseException] = []

    def work(reverse: bool) -> None:
        try:
            for _ in range(30):
                user = User.register(email="u@example.org")
                account = BankAccount.open(owner=uuid.uuid4())
                with UnitOfWork(messagedb_store):
                    pair = [(accounts, account), (users, user)]
                    for repository, aggregate in reversed(pair) if reverse else pair:
                        repository.add(aggregate)  # type: ignore[attr-defined]
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []


@pytest.mark.parametrize("count", [3])
def test_a_commit_interrupted_midway_stores_nothing(
    messagedb_store: EventStore, count: int
) -> None:
    """The third of three aggregates fails inside the database transaction."""
    users = Repository(User, messagedb_store)
    taken = User.register(email="t@example.org")
    users.add(taken)
    fresh = [User.register(email=f"{n}@example.org") for n in range(count - 1)]
    clash = User.register(email="clash@example.org", id=taken.id)

    with pytest.raises(ExpectedVersionError), UnitOfWork(messagedb_store):
        for user in [*fresh, clash]:
            users.add(user)

    for user in fresh:
        assert messagedb_store.stream_version(f"user-{user.id}") == -1
        assert len(user.pending_events) == 1
