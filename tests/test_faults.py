"""Faults on real PostgreSQL: a backend killed mid-commit, the server stopped and started.

Every test here runs on a private cluster (`tests/private_postgres.py`), never on the
machine's shared PostgreSQL.
"""

from __future__ import annotations

import gc
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from types import FrameType
from typing import Any, ClassVar

import psycopg
import pytest

from aggregen.runtime import (
    Aggregate,
    CommitOutcomeUnknownError,
    EventStoreError,
    MessageDBEventStore,
    Repository,
    UnitOfWork,
)
from aggregen.runtime.repository import commit as commit_pending
from tests.domain import User
from tests.private_postgres import PrivateCluster, private_messagedb

__all__ = ["private_messagedb"]  # the session fixture, used by name below


class FirstUser(User):
    __category__: ClassVar[str] = "faultAlpha"


class LastUser(User):
    __category__: ClassVar[str] = "faultZeta"


@pytest.fixture
def messagedb_uri(private_messagedb: PrivateCluster) -> str:
    """The private cluster's MessageDB, in place of the shared one."""
    return private_messagedb.uri


@pytest.fixture
def admin(messagedb_uri: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(messagedb_uri, autocommit=True) as conn:
        conn.execute("SET search_path = message_store, public")
        yield conn


def waiting_writers(admin: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND wait_event = 'advisory' AND query LIKE '%write_message%'"
    ).fetchall()
    return [int(str(row[0])) for row in rows]


def kill_writers(
    admin: psycopg.Connection[tuple[object, ...]], times: int, done: threading.Event
) -> int:
    """Terminate the backend waiting on the category lock, `times` times."""
    killed = 0
    deadline = time.monotonic() + 30
    while killed < times and time.monotonic() < deadline and not done.is_set():
        for pid in waiting_writers(admin):
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed += 1
        time.sleep(0.02)
    return killed


class BackendKiller(threading.Thread):
    """Terminates every backend of `application` every 10-80 ms until `stop`; counts them."""

    def __init__(self, admin: psycopg.Connection[tuple[object, ...]], application: str) -> None:
        super().__init__()
        self.admin = admin
        self.application = application
        self.killed = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stopping.is_set():
            rows = self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (self.application,),
            ).fetchall()
            self.killed += sum(1 for (done,) in rows if done)
            time.sleep(rng.uniform(0.01, 0.08))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def wait_for_sync_rep(admin: psycopg.Connection[tuple[object, ...]]) -> None:
    """Wait until a backend waits for the (absent) synchronous standby."""
    for _ in range(1000):
        waiting = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
        ).fetchone()
        if waiting and waiting[0]:
            return
        time.sleep(0.01)
    pytest.fail("the commit never waited for the standby")


def check_refused(messages: list[str]) -> None:
    """Errors of calls while the server is down: the cause, never "busy"."""
    for text in messages:
        assert "no database connection could be made: " in text, text
        assert "Connection refused" in text, text
        assert "busy" not in text, text
        assert "exhausted" not in text, text


def check_outage(
    events: list[tuple[float, str]], down_at: float, back_at: float, what: str
) -> None:
    """Calls through an outage, `(time, error text or "")`: every failure names its cause
    (never "busy" or "exhausted") and no call succeeded before the server was back."""
    failures = [text for at, text in events if text and at > down_at]
    first_success = min(at for at, text in events if not text and at > down_at)
    print(
        f"\n{what}{len(failures)} failed calls while down, first success "
        f"{1000 * (first_success - back_at):.0f} ms after pg_ctl start returned"
    )
    assert failures, "the server was down for 2 s"
    for text in failures:
        assert "busy" not in text, text
        assert "exhausted" not in text, text
        assert "could be made" in text or "lost" in text, text
    assert first_success > back_at - 1, "no call can succeed while the server is down"
    assert all(not text for at, text in events if at > first_success), "recovered for good"


def check_kill_errors(killer: BackendKiller, errors: list[str], what: str) -> None:
    """Every error under `killer` says the connection was lost or could not be made."""
    print(
        f"\n{killer.killed} backends terminated during {what}: "
        f"{len(errors)} failed attempts, each unit stored once"
    )
    for text in set(errors):
        print("  ", text[:200])
    for text in errors:
        assert text.startswith(("the database connection was lost", "no database connection")), text
    assert killer.killed > KILL_COMMITS // 2, "the killer found the store's backends"


@pytest.mark.parametrize("kills", [1, 2])
def test_a_backend_killed_in_the_middle_of_a_commit_stores_all_or_nothing(
    messagedb_uri: str, admin: psycopg.Connection[tuple[object, ...]], kills: int
) -> None:
    store = MessageDBEventStore(messagedb_uri, timeout=5)
    firsts, lasts = Repository(FirstUser, store), Repository(LastUser, store)
    first = [FirstUser.register(email=f"{n}@example.org") for n in range(3)]
    last = LastUser.register(email="last@example.org")
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def commit() -> None:
        try:
            with UnitOfWork(store):
                for user in first:
                    firsts.add(user)
                lasts.add(last)
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)
        finally:
            done.set()

    try:
        with psycopg.connect(messagedb_uri) as blocker:
            blocker.execute("SET search_path = message_store, public")
            blocker.execute("SELECT pg_advisory_xact_lock(hash_64('faultZeta'))")
            writer = threading.Thread(target=commit)
            writer.start()
            killed = kill_writers(admin, kills, done)
            blocker.rollback()  # releases the category lock
        writer.join(timeout=30)
        assert killed == kills
        assert outcome, "the commit never finished"

        stored = [store.stream_version(f"faultAlpha-{u.id}") for u in first]
        stored.append(store.stream_version(f"faultZeta-{last.id}"))
        if outcome[0] is None:  # one kill: the store retried on a fresh connection
            assert kills == 1
            assert stored == [0, 0, 0, 0]
        else:  # killed on both attempts
            error = outcome[0]
            assert isinstance(error, CommitOutcomeUnknownError), repr(error)
            assert "Retrying the same unit of work is safe" in str(error)
            assert stored == [-1, -1, -1, -1], "all or nothing"
            assert all(len(u.pending_events) == 1 for u in [*first, last])
            with UnitOfWork(store):  # the retry the message offers
                for user in first:
                    firsts.add(user)
                lasts.add(last)
            assert [store.stream_version(f"faultAlpha-{u.id}") for u in first] == [0, 0, 0]

        after = FirstUser.register(email="after@example.org")
        firsts.add(after)
        assert firsts.get(after.id).email == "after@example.org"
    finally:
        store.close()


def test_calls_fail_clearly_while_postgres_is_down_and_work_again_at_once_after(
    messagedb_uri: str, private_messagedb: PrivateCluster
) -> None:
    """While down: the cause, never "busy"; back: the very next call works (no backoff)."""
    store = MessageDBEventStore(messagedb_uri, timeout=2)
    users = Repository(User, store)
    user = User.register(email="down@example.org")
    users.add(user)
    renamed = User.register(email="queued@example.org")
    try:
        private_messagedb.stop()
        try:
            messages = []
            for _ in range(3):  # first on the pooled (dead) connection, then on none
                with pytest.raises(EventStoreError) as caught:
                    users.get(user.id)
                messages.append(str(caught.value))
            with pytest.raises(EventStoreError) as caught:
                users.add(renamed)
            assert not isinstance(caught.value, CommitOutcomeUnknownError), "nothing was sent"
            messages.append(str(caught.value))
            print("\nwhile PostgreSQL is down:", *messages, sep="\n  ")
            check_refused(messages)
        finally:
            private_messagedb.start()  # returns once the server accepts connections
        back = time.monotonic()
        users.add(renamed)  # the first call after the server's return
        print(f"first commit done {1000 * (time.monotonic() - back):.1f} ms after the return")
        assert users.get(renamed.id).email == "queued@example.org"
        assert users.get(user.id).email == "down@example.org"
        other = User.register(email=f"{uuid.uuid4()}@example.org")
        users.add(other)
    finally:
        store.close()


def test_recovery_after_a_restart_is_measured_from_a_polling_client(
    messagedb_uri: str, private_messagedb: PrivateCluster
) -> None:
    """A client calling every 10 ms through a restart: every error names its cause."""
    store = MessageDBEventStore(messagedb_uri, timeout=2)
    users = Repository(User, store)
    user = User.register(email="poll@example.org")
    users.add(user)
    events: list[tuple[float, str]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                users.get(user.id)
                events.append((time.monotonic(), ""))
            except EventStoreError as error:
                events.append((time.monotonic(), str(error)))
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(0.2)
        private_messagedb.stop()
        down_at = time.monotonic()
        time.sleep(2)
        private_messagedb.start()
        back_at = time.monotonic()  # pg_ctl -w returns once connections are accepted
        time.sleep(1.5)
    finally:
        stop.set()
        poller.join(timeout=30)
        if not private_messagedb.running():
            private_messagedb.start()
        store.close()
    check_outage(events, down_at, back_at, "")


def test_a_commit_lost_after_commit_says_its_outcome_is_unknown_and_a_retry_stores_it_once(
    messagedb_uri: str,
    private_messagedb: PrivateCluster,
    admin: psycopg.Connection[tuple[object, ...]],
) -> None:
    """COMMIT flushed, reply never sent: an absent synchronous standby holds the backend
    after the commit is durable; then the server crashes (immediate stop)."""
    store = MessageDBEventStore(messagedb_uri, timeout=2)
    firsts, lasts = Repository(FirstUser, store), Repository(LastUser, store)
    first, last = FirstUser.register(email="a@example.org"), LastUser.register(email="b@x.org")
    outcome: list[BaseException | None] = []

    def commit() -> None:
        try:
            with UnitOfWork(store):
                firsts.add(first)
                lasts.add(last)
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'aggregen_absent_standby'")
    admin.execute("SELECT pg_reload_conf()")
    writer = threading.Thread(target=commit)
    try:
        writer.start()
        wait_for_sync_rep(admin)
        admin.close()
        private_messagedb.stop("immediate")
        writer.join(timeout=30)
    finally:
        if not private_messagedb.running():
            private_messagedb.start()
        with psycopg.connect(messagedb_uri, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("SELECT pg_reload_conf()")
    try:
        error = outcome[0]
        print(f"\ncommit lost after COMMIT: {error}")
        assert isinstance(error, CommitOutcomeUnknownError), error
        assert "whether the commit was stored is unknown" in str(error)
        assert "Retrying the same unit of work is safe" in str(error)
        assert [len(first.pending_events), len(last.pending_events)] == [1, 1]
        assert store.stream_version(f"faultAlpha-{first.id}") == 0, "it was stored"

        with UnitOfWork(store):  # the same unit of work again
            firsts.add(first)
            lasts.add(last)
        assert [first.pending_events, last.pending_events] == [(), ()]
        assert store.stream_version(f"faultAlpha-{first.id}") == 0, "stored once"
        assert store.stream_version(f"faultZeta-{last.id}") == 0, "stored once"
    finally:
        store.close()


class Interrupted(KeyboardInterrupt):
    """Raised by the timer's signal handler, as Ctrl-C would raise KeyboardInterrupt."""


def interrupt(signum: int, frame: FrameType | None) -> None:
    """Raise `Interrupted`, unless a finalizer runs: Python swallows what `__del__` raises,
    so the alarm is put off by 0.1 ms instead."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            signal.setitimer(signal.ITIMER_REAL, 0.0001)
            return
        frame = frame.f_back
    raise Interrupted


INTERRUPT_ROUNDS = 300


def test_an_interrupt_at_any_moment_of_a_commit_stores_all_or_nothing_and_the_next_call_works(
    messagedb_uri: str,
) -> None:
    """SIGALRM at random moments of commits of one message and of three (pipelined);
    after each: all or nothing stored, the store works, and the same commit retried
    is stored once. The delay's range adapts so that about half of the alarms land
    inside the commit."""
    rng = random.Random(20261130)
    store = MessageDBEventStore(messagedb_uri, timeout=2, max_size=1)
    firsts, lasts = Repository(FirstUser, store), Repository(LastUser, store)
    firsts.add(FirstUser.register(email="warm@example.org"))
    scale = 0.002
    previous = signal.signal(signal.SIGALRM, interrupt)
    landed = 0
    # No garbage collection while alarms fly: an interrupt raised inside a gc callback
    # (hypothesis installs one in the worker) is "ignored" by Python, not the commit's.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_number in range(INTERRUPT_ROUNDS):
            unit_firsts = [FirstUser.register(email=f"{round_number}@example.org")]
            unit_lasts: list[LastUser] = []
            if round_number % 2:
                unit_firsts.append(FirstUser.register(email="second@example.org"))
                unit_lasts.append(LastUser.register(email="third@example.org"))
            unit: list[User] = [*unit_firsts, *unit_lasts]

            entries: list[tuple[Repository[Any], Aggregate]] = [
                *((firsts, user) for user in unit_firsts),
                *((lasts, user) for user in unit_lasts),
            ]

            def commit(entries: list[tuple[Repository[Any], Aggregate]] = entries) -> None:
                # What `UnitOfWork.__exit__` runs: an interrupt at the very start of
                # `__exit__` is another matter (see the note on interrupts in the README).
                commit_pending(store, entries)

            try:
                signal.setitimer(signal.ITIMER_REAL, rng.uniform(0, scale))
                try:
                    commit()
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except Interrupted:
                landed += 1
                scale *= 1.05
            else:
                scale *= 0.9

            versions = {store.stream_version(user._stream_name()) for user in unit}
            assert versions in ({-1}, {0}), f"round {round_number}: not all or nothing"
            check = FirstUser.register(email="next@example.org")
            firsts.add(check)  # the next command works
            assert firsts.get(check.id).email == "next@example.org"
            if any(user.pending_events for user in unit):
                commit()  # the same unit of work again
            assert {store.stream_version(user._stream_name()) for user in unit} == {0}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if gc_was_enabled:
            gc.enable()
        store.close()
    print(
        f"\n{INTERRUPT_ROUNDS} commits, {landed} interrupted: all or nothing each time, "
        "the next call worked, every retry stored its unit once"
    )
    assert landed >= INTERRUPT_ROUNDS // 5, "interrupts landed inside commits"


KILL_COMMITS = 60


def test_backends_killed_again_and_again_give_clear_errors_and_lose_nothing(
    messagedb_uri: str, admin: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A thread terminates the store's backends every few milliseconds while units of
    work of three aggregates commit; each failed commit is retried as it is until it
    succeeds. Every error is an `EventStoreError` that says what happened, and every
    unit ends up stored exactly once."""
    uri = f"{messagedb_uri}?application_name=aggregen-kill-target"
    store = MessageDBEventStore(uri, timeout=5)
    firsts, lasts = Repository(FirstUser, store), Repository(LastUser, store)
    errors: list[str] = []
    units: list[tuple[list[FirstUser], LastUser]] = []
    killer = BackendKiller(admin, "aggregen-kill-target")
    killer.start()
    try:
        # At least KILL_COMMITS units, and on until the killer has struck often enough
        # (a fast machine finishes 60 units between a few kills), bounded in time.
        n, deadline = 0, time.monotonic() + 60
        while (
            n < KILL_COMMITS or killer.killed <= KILL_COMMITS // 2
        ) and time.monotonic() < deadline:
            n += 1
            unit = (
                [FirstUser.register(email=f"{n}.{k}@example.org") for k in range(2)],
                LastUser.register(email=f"{n}@example.org"),
            )
            units.append(unit)
            for _ in range(200):
                try:
                    with UnitOfWork(store):
                        for user in unit[0]:
                            firsts.add(user)
                        lasts.add(unit[1])
                    break
                except EventStoreError as error:
                    errors.append(str(error))
            else:
                pytest.fail("a unit of work never got through")
    finally:
        killer.stop()
    try:
        for first_users, last_user in units:
            for user in first_users:
                assert store.stream_version(f"faultAlpha-{user.id}") == 0
            assert store.stream_version(f"faultZeta-{last_user.id}") == 0
    finally:
        store.close()
    check_kill_errors(killer, errors, f"{len(units)} units of work")
