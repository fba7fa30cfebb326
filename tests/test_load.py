"""Load: 8 processes repeat get, command, add on 20 shared streams of real MessageDB.

Bounded in time (a few seconds) and in count. Every attempt either stores its event
exactly once or gets `ExpectedVersionError`; with `update_with_retry` every command
succeeds in the end. The figures are printed (`pytest -s tests/test_load.py`) and
quoted in the README's "Guarantees" section.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from collections.abc import Callable

from aggregen.runtime import (
    EventStore,
    ExpectedVersionError,
    Repository,
    connect,
    update_with_retry,
)
from tests.domain import User

PROCESSES = 8
STREAMS = 20
SECONDS = 4.0
MAX_ATTEMPTS = 3000


def renamer(name: str) -> Callable[[User], None]:
    return lambda user: user.rename(first_name=name)


def contend(uri: str, ids: list[str], worker: int, retry: bool) -> tuple[list[str], list[str]]:
    """Rename random users until time is up; return (stored names, refused names)."""
    store = connect(uri, max_size=1)
    users = Repository(User, store)
    chooser = random.Random(worker)
    stored: list[str] = []
    refused: list[str] = []
    deadline = time.monotonic() + SECONDS
    try:
        for attempt in range(MAX_ATTEMPTS):
            if time.monotonic() > deadline:
                break
            name = f"p{worker}-{attempt}"
            user_id = chooser.choice(ids)
            if retry:
                update_with_retry(users, user_id, renamer(name), attempts=200)
                stored.append(name)
                continue
            user = users.get(user_id)
            user.rename(first_name=name)
            try:
                users.add(user)
            except ExpectedVersionError:
                refused.append(name)
            else:
                stored.append(name)
    finally:
        store.close()
    return stored, refused


def run(uri: str, store: EventStore, retry: bool) -> tuple[list[str], list[str], list[str]]:
    users = Repository(User, store)
    ids = [str(uuid.uuid4()) for _ in range(STREAMS)]
    for user_id in ids:
        users.add(User.register(email="load@example.org", id=user_id))
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        outcomes = pool.starmap(contend, [(uri, ids, w, retry) for w in range(PROCESSES)])
    return ids, [n for s, _ in outcomes for n in s], [n for _, r in outcomes for n in r]


def stored_names(store: EventStore, ids: list[str]) -> list[str]:
    names: list[str] = []
    for user_id in ids:
        messages = list(store.read(f"user-{user_id}"))
        assert [m.position for m in messages] == list(range(len(messages))), "a gap"
        names.extend(m.data["first_name"] for m in messages[1:])
    return names


def test_every_attempt_is_stored_exactly_once_or_refused(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    ids, stored, refused = run(messagedb_uri, messagedb_store, retry=False)

    in_streams = stored_names(messagedb_store, ids)
    assert len(in_streams) == len(set(in_streams)), "an event was stored twice"
    assert set(in_streams) == set(stored), "a successful attempt is missing"
    assert not set(in_streams) & set(refused), "a refused attempt was stored"
    attempts = len(stored) + len(refused)
    print(
        f"\nload: {PROCESSES} processes, {STREAMS} streams, {SECONDS:g} s: {attempts} attempts, "
        f"{len(stored)} stored once, {len(refused)} refused with ExpectedVersionError, "
        "0 lost, 0 duplicated, 0 gaps"
    )
    assert attempts > PROCESSES


def test_with_update_with_retry_every_command_succeeds(
    messagedb_uri: str, messagedb_store: EventStore
) -> None:
    ids, stored, refused = run(messagedb_uri, messagedb_store, retry=True)

    in_streams = stored_names(messagedb_store, ids)
    assert refused == []
    assert sorted(in_streams) == sorted(stored)
    print(
        f"\nload with retries: {len(stored)} commands from {PROCESSES} processes, "
        f"all stored exactly once"
    )
