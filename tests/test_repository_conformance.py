"""Aggregates, repositories and units of work, on the in-memory store and real MessageDB."""

from __future__ import annotations

import datetime
import decimal
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from aggregen.runtime import (
    AggregateNotFoundError,
    EventStore,
    ExpectedVersionError,
    NewMessage,
    RecordedMessage,
    Repository,
    StreamDataError,
    StreamNameError,
    StreamWrite,
    UnitOfWork,
    set_snapshot_threshold,
)
from aggregen.runtime.store import ClosingStore
from tests.domain import BankAccount, Deposited, Registered, Renamed, Resident, User


@pytest.fixture(autouse=True)
def _default_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AGGREGEN_SNAPSHOT_THRESHOLD", raising=False)
    set_snapshot_threshold(None)
    yield
    set_snapshot_threshold(None)


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    """This module's tests run against all four stores, sync and async."""
    return any_store


def register(**values: object) -> User:
    defaults: dict[str, object] = {"email": "ann@example.org", "first_name": "Ann"}
    defaults.update(values)
    return User.register(**defaults)  # type: ignore[arg-type]


def test_a_new_aggregate_is_stored_and_read_back(store: EventStore) -> None:
    users = Repository(User, store)
    user = register(joined_on=datetime.date(2024, 2, 29))
    assert user._version == 0
    assert len(user.pending_events) == 1

    users.add(user)

    assert len(user.pending_events) == 0
    loaded = users.get(user.id)
    assert type(loaded) is User
    assert (loaded.id, loaded.email, loaded.first_name) == (user.id, "ann@example.org", "Ann")
    assert loaded.joined_on == datetime.date(2024, 2, 29)
    assert type(loaded.joined_on) is datetime.date
    assert loaded._version == 0


def test_commands_on_a_loaded_aggregate_advance_its_version(store: EventStore) -> None:
    users = Repository(User, store)
    user = register()
    users.add(user)

    loaded = users.get(user.id)
    loaded.rename(first_name="Bea")
    loaded.rename(first_name="Cleo")
    assert loaded._version == 2
    users.add(loaded)

    again = users.get(user.id)
    assert (again.first_name, again._version) == ("Cleo", 2)


def test_events_carry_metadata_once_raised(store: EventStore) -> None:
    user = register()
    (event,) = user.pending_events
    assert event.metadata is not None
    assert event.metadata.stream_name == f"user-{user.id}"
    assert event.metadata.position == 0
    uuid.UUID(event.metadata.id)
    with pytest.raises(ValueError, match="raised already"):
        user.raise_(event)


def test_events_read_back_equal_the_events_written(store: EventStore) -> None:
    accounts = Repository(BankAccount, store)
    account = BankAccount.open(owner=uuid.uuid4())
    account.deposit(decimal.Decimal("10.005"))
    written = account.pending_events
    accounts.add(account)

    messages = list(store.read(f"bankAccount-{account.id}"))
    read = [BankAccount.__events__[m.type].from_data(m.data) for m in messages]

    assert read == list(written)
    assert [type(getattr(e, f)) for e in read[1:] for f in ("amount",)] == [decimal.Decimal]
    opened = read[0]
    assert isinstance(getattr(opened, "owner", None), uuid.UUID)
    assert getattr(opened, "opened_at").tzinfo is not None  # noqa: B009
    assert messages[1].type == "bank.Deposited"


def test_the_category_defaults_to_the_class_name_with_a_lower_case_first_letter(
    store: EventStore,
) -> None:
    accounts = Repository(BankAccount, store)
    account = BankAccount.open(owner=uuid.uuid4())
    accounts.add(account)
    assert store.stream_version(f"bankAccount-{account.id}") == 0


def test_an_unknown_id_is_not_found(store: EventStore) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(AggregateNotFoundError) as caught:
        Repository(User, store).get(missing)
    assert caught.value.aggregate_id == missing
    assert caught.value.stream_name == f"user-{missing}"


@pytest.mark.parametrize(
    "bad_id",
    ["", "a+b", "has space", "line\nbreak", "tab\there", "nb\u00a0space", "nel\u0085", "x" * 501],
)
def test_unusable_ids_are_refused(store: EventStore, bad_id: str) -> None:
    with pytest.raises(StreamNameError):
        Repository(User, store).get(bad_id)


def test_ids_with_dashes_colons_quotes_and_unicode_work(store: EventStore) -> None:
    users = Repository(User, store)
    for odd in ["a-b-c", "a:b", 'it\'s-"quoted"', "naïve-ñ-日本", "semi;colon"]:
        odd_id = f"{odd}-{uuid.uuid4()}"
        users.add(register(id=odd_id))
        assert users.get(odd_id).id == odd_id


def test_of_two_writers_of_one_version_exactly_one_wins(store: EventStore) -> None:
    users = Repository(User, store)
    user = register()
    users.add(user)
    first, second = users.get(user.id), users.get(user.id)
    first.rename(first_name="First")
    second.rename(first_name="Second")
    users.add(first)

    with pytest.raises(ExpectedVersionError) as caught:
        users.add(second)

    assert caught.value.stream_name == f"user-{user.id}"
    assert (caught.value.expected_version, caught.value.actual_version) == (0, 1)
    assert users.get(user.id).first_name == "First"
    assert [m.type for m in store.read(f"user-{user.id}")] == ["Registered", "Renamed"]
    assert second._version == 1
    assert [type(e) for e in second.pending_events] == [Renamed]


def test_a_unit_of_work_stores_all_its_aggregates_at_its_end(store: EventStore) -> None:
    users, accounts = Repository(User, store), Repository(BankAccount, store)
    user, account = register(), BankAccount.open(owner=uuid.uuid4())

    with UnitOfWork(store):
        users.add(user)
        accounts.add(account)
        account.deposit(decimal.Decimal(5))
        accounts.add(account)
        assert store.stream_version(f"user-{user.id}") == -1

    assert users.get(user.id).email == "ann@example.org"
    assert accounts.get(account.id).balance == decimal.Decimal(5)
    assert user.pending_events == ()
    assert account.pending_events == ()


def test_a_failing_unit_of_work_stores_nothing_and_keeps_pending_events(
    store: EventStore,
) -> None:
    users, accounts = Repository(User, store), Repository(BankAccount, store)
    existing = register()
    users.add(existing)
    stale, fresh = users.get(existing.id), users.get(existing.id)
    fresh.rename(first_name="Winner")
    users.add(fresh)
    account, newcomer = BankAccount.open(owner=uuid.uuid4()), register()
    stale.rename(first_name="Loser")

    with pytest.raises(ExpectedVersionError), UnitOfWork(store):
        accounts.add(account)
        users.add(newcomer)
        users.add(stale)

    assert store.stream_version(f"bankAccount-{account.id}") == -1
    assert store.stream_version(f"user-{newcomer.id}") == -1
    assert users.get(existing.id).first_name == "Winner"
    assert (account._version, len(account.pending_events)) == (0, 1)
    assert (newcomer._version, len(newcomer.pending_events)) == (0, 1)
    assert (stale._version, len(stale.pending_events)) == (1, 1)

    users.add(newcomer)
    assert store.stream_version(f"user-{newcomer.id}") == 0


def test_an_exception_in_a_unit_of_work_stores_nothing_and_leaves_nothing_behind(
    store: EventStore,
) -> None:
    users = Repository(User, store)
    user = register()

    with pytest.raises(RuntimeError, match="boom"), UnitOfWork(store):
        users.add(user)
        raise RuntimeError("boom")

    assert store.stream_version(f"user-{user.id}") == -1
    users.add(user)
    assert store.stream_version(f"user-{user.id}") == 0


def test_a_unit_of_work_is_used_once(store: EventStore) -> None:
    unit = UnitOfWork(store)
    with unit:
        pass
    with pytest.raises(RuntimeError, match="used once"), unit:
        pass


def test_snapshots_are_written_every_n_events_and_used(store: EventStore) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=3)
    account = BankAccount.open(owner=uuid.uuid4())
    accounts.add(account)
    for _ in range(7):
        account.deposit(decimal.Decimal(1))
        accounts.add(account)

    snapshots = list(store.read(f"bankAccount:snapshot-{account.id}"))
    assert [s.data["version"] for s in snapshots] == [2, 5]
    assert snapshots[-1].data["state"]["balance"] == "5"

    account.deposit(decimal.Decimal(1))
    accounts.add(account)  # version 8: a snapshot at the third multiple
    tampered = dict(store.read_last(f"bankAccount:snapshot-{account.id}").data)  # type: ignore[union-attr]
    assert tampered["version"] == 8
    tampered["state"] = {**tampered["state"], "balance": "1000"}
    write_snapshot(store, f"bankAccount:snapshot-{account.id}", tampered)

    loaded = accounts.get(account.id)
    assert loaded.balance == decimal.Decimal(1000), "the newest snapshot is used"
    assert loaded._version == 8


def test_a_batch_crossing_the_threshold_writes_one_snapshot(store: EventStore) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=10)
    account = BankAccount.open(owner=uuid.uuid4())
    for _ in range(24):
        account.deposit(decimal.Decimal("0.5"))
    accounts.add(account)
    (snapshot,) = store.read(f"bankAccount:snapshot-{account.id}")
    assert snapshot.data["version"] == 24
    assert accounts.get(account.id).balance == decimal.Decimal(12)


def write_snapshot(store: EventStore, stream: str, data: dict[str, object]) -> None:
    store.append(
        [StreamWrite(stream, None, [NewMessage(str(uuid.uuid4()), "Snapshot", data, None)])]
    )


@pytest.mark.parametrize(
    "snapshot",
    [
        {"version": 3, "shape": "another-shape", "state": {"balance": "99", "owner": None}},
        {"version": 3, "shape": None, "state": {}},
        {"version": "3", "state": {"balance": "99"}},
        "shape-only",
        {"version": -5, "state": {"balance": "99", "owner": None}},
        {"version": 3, "state": {"balance": "not a number", "owner": None}},
        {"version": 3, "state": {"owner": None}},
        {"version": 3, "state": ["balance", "99"]},
        {"version": 3, "state": None},
        {"version": 3, "state": {"balance": "NaN-ish", "owner": "not-a-uuid"}},
        {"version": 3, "event": 3, "state": {"balance": "99", "owner": None}},
        {"version": 3, "event": None, "state": {"balance": "99", "owner": None}},
        {"version": 3, "event": "MISSING", "state": {"balance": "99", "owner": None}},
        # from the future: beyond the stream's end (version 3), then far beyond it
        {"version": 4, "event": "LAST", "state": {"balance": "666", "owner": None}},
        {"version": 666, "event": "LAST", "state": {"balance": "666", "owner": None}},
        # at the stream's last event, but taken after another one (another history)
        {"version": 3, "event": "OTHER", "state": {"balance": "666", "owner": None}},
        # data that is not a JSON object
        ["version", 3],
        "a string",
        42,
        None,
    ],
)
def test_a_snapshot_that_does_not_fit_is_ignored_and_the_stream_replayed(
    store: EventStore, snapshot: object, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=100)
    account = BankAccount.open(owner=uuid.uuid4())
    for _ in range(3):
        account.deposit(decimal.Decimal(2))
    accounts.add(account)
    last_event = store.read_last(f"bankAccount-{account.id}")
    assert last_event is not None
    if snapshot == "shape-only":
        snapshot = {"shape": BankAccount._snapshot_fingerprint()}
    elif isinstance(snapshot, dict):
        ids = {"LAST": last_event.id, "OTHER": str(uuid.uuid4())}
        snapshot = {
            "shape": BankAccount._snapshot_fingerprint(),
            "event": last_event.id,
            **snapshot,
            **{k: ids[v] for k, v in snapshot.items() if isinstance(v, str) and v in ids},
        }
        snapshot = {k: v for k, v in snapshot.items() if v != "MISSING"}
    write_snapshot(store, f"bankAccount:snapshot-{account.id}", snapshot)  # type: ignore[arg-type]

    with caplog.at_level(logging.INFO, logger="aggregen"):
        loaded = accounts.get(account.id)

    assert (loaded.balance, loaded._version) == (decimal.Decimal(6), 3)
    assert [r.getMessage()[:17] for r in caplog.records] == ["ignoring snapshot"]
    loaded.deposit(decimal.Decimal(1))
    accounts.add(loaded)  # the version it was loaded with is the stream's
    assert accounts.get(account.id).balance == decimal.Decimal(7)


def test_a_snapshot_of_a_stream_that_has_no_events_is_not_an_aggregate(
    store: EventStore,
) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=100)
    account_id = str(uuid.uuid4())
    forged = {
        "version": 0,
        "event": str(uuid.uuid4()),
        "shape": BankAccount._snapshot_fingerprint(),
        "state": {"balance": "666", "owner": None},
    }
    write_snapshot(store, f"bankAccount:snapshot-{account_id}", forged)

    with pytest.raises(AggregateNotFoundError):
        accounts.get(account_id)


def test_a_snapshot_at_the_streams_last_event_is_used(store: EventStore) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=4)
    account = BankAccount.open(owner=uuid.uuid4())
    for _ in range(3):
        account.deposit(decimal.Decimal(2))
    accounts.add(account)  # version 3: a snapshot of version 3, the stream's end
    tampered = dict(store.read_last(f"bankAccount:snapshot-{account.id}").data)  # type: ignore[union-attr]
    assert tampered["version"] == 3
    write_snapshot(
        store,
        f"bankAccount:snapshot-{account.id}",
        {**tampered, "state": {**tampered["state"], "balance": "1000"}},
    )

    assert accounts.get(account.id).balance == decimal.Decimal(1000)


def test_threshold_zero_writes_no_snapshot(store: EventStore) -> None:
    accounts = Repository(BankAccount, store, snapshot_threshold=0)
    account = BankAccount.open(owner=uuid.uuid4())
    for _ in range(30):
        account.deposit(decimal.Decimal(1))
    accounts.add(account)
    assert store.stream_version(f"bankAccount:snapshot-{account.id}") == -1
    assert accounts.get(account.id).balance == 30


def test_the_threshold_comes_from_the_environment_then_code_then_the_class(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = Repository(BankAccount, store)
    assert accounts.snapshot_threshold() == 10
    monkeypatch.setenv("AGGREGEN_SNAPSHOT_THRESHOLD", "4")
    assert accounts.snapshot_threshold() == 4
    set_snapshot_threshold(6)
    assert accounts.snapshot_threshold() == 6
    monkeypatch.setattr(BankAccount, "__snapshot_threshold__", 2)
    assert accounts.snapshot_threshold() == 2
    assert Repository(BankAccount, store, snapshot_threshold=0).snapshot_threshold() == 0

    account = BankAccount.open(owner=uuid.uuid4())
    account.deposit(decimal.Decimal(1))
    accounts.add(account)
    assert store.stream_version(f"bankAccount:snapshot-{account.id}") == 0


class SnapshotFailingStore(ClosingStore):
    """Passes everything to a real store, but fails every snapshot write."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner

    def append(self, writes: Sequence[StreamWrite]) -> None:
        if any(":snapshot-" in w.stream_name for w in writes):
            raise OSError("disk full")
        self.inner.append(writes)

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


def test_a_failed_snapshot_never_fails_the_command(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    failing = SnapshotFailingStore(store)
    accounts = Repository(BankAccount, failing, snapshot_threshold=2)
    account = BankAccount.open(owner=uuid.uuid4())
    account.deposit(decimal.Decimal(3))

    with caplog.at_level(logging.WARNING, logger="aggregen"):
        accounts.add(account)

    assert "could not write a snapshot" in caplog.text
    assert accounts.get(account.id).balance == 3
    assert store.stream_version(f"bankAccount-{account.id}") == 1


class UnsnapshottableAccount(BankAccount):
    """Its state cannot be taken: as a `T` field a stream never set (no creating event)."""

    def _snapshot_state(self) -> dict[str, object]:
        raise AttributeError("'UnsnapshottableAccount' object has no attribute 'owner'")


def test_a_state_that_cannot_be_taken_never_fails_the_command(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Repository(UnsnapshottableAccount, store, snapshot_threshold=2)
    account = UnsnapshottableAccount.open(owner=uuid.uuid4())
    account.deposit(decimal.Decimal(3))

    with caplog.at_level(logging.WARNING, logger="aggregen"):
        accounts.add(account)

    assert "could not write a snapshot" in caplog.text
    assert account.pending_events == ()
    assert store.stream_version(UnsnapshottableAccount.stream_name(account.id)) == 1


def test_an_unknown_event_type_names_the_stream_and_position(store: EventStore) -> None:
    users = Repository(User, store)
    user = register()
    users.add(user)
    stream = f"user-{user.id}"
    store.append([StreamWrite(stream, 0, [NewMessage(str(uuid.uuid4()), "Vanished", {}, None)])])

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (stream, 1)
    assert "Vanished" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [{}, {"first_name": 5}, {"first_name": None}, {"first_name": ["x"]}],
)
def test_malformed_event_data_names_the_stream_and_position(
    store: EventStore, data: dict[str, object]
) -> None:
    users = Repository(User, store)
    user = register()
    users.add(user)
    stream = f"user-{user.id}"
    store.append([StreamWrite(stream, 0, [NewMessage(str(uuid.uuid4()), "Renamed", data, None)])])

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (stream, 1)


def test_a_bad_date_in_a_stream_is_a_stream_data_error(store: EventStore) -> None:
    users = Repository(User, store)
    user_id = str(uuid.uuid4())
    data = {"email": "x@example.org", "joined_on": "yesterday"}
    store.append(
        [
            StreamWrite(
                f"user-{user_id}", -1, [NewMessage(str(uuid.uuid4()), "Registered", data, None)]
            )
        ]
    )
    with pytest.raises(StreamDataError, match="position 0"):
        users.get(user_id)


def test_adding_an_aggregate_of_another_class_is_refused(store: EventStore) -> None:
    with pytest.raises(TypeError, match="stores User"):
        Repository(User, store).add(BankAccount.open(owner=uuid.uuid4()))  # type: ignore[arg-type]


def test_a_registered_event_holds_its_values(store: EventStore) -> None:
    event = Registered(email="e@example.org")
    assert event.to_data() == {"email": "e@example.org", "first_name": None, "joined_on": None}
    assert Deposited.type_name() == "bank.Deposited"
    assert Registered.type_name() == "Registered"


def test_a_stream_mixing_event_versions_reads_back_as_current_events(store: EventStore) -> None:
    resident_id = str(uuid.uuid4())
    old = [
        ("Relocated", {"town": "Utrecht"}, 1),
        ("Moved", {"city": "Delft"}, 2),
        ("Moved", {"city": "Gent", "country": "BE"}, 3),
    ]
    messages = [
        NewMessage(str(uuid.uuid4()), type_name, data, {"schemaVersion": version})
        for type_name, data, version in old
    ]
    stream = f"resident-{resident_id}"
    residents = Repository(Resident, store, snapshot_threshold=0)
    for position, message in enumerate(messages):
        store.append([StreamWrite(stream, position - 1, [message])])
        resident = residents.get(resident_id)
        expected = [("Utrecht", "NL"), ("Delft", "NL"), ("Gent", "BE")][position]
        assert (resident.city, resident.country) == expected


def test_an_event_newer_than_the_code_is_a_stream_data_error(store: EventStore) -> None:
    resident_id = str(uuid.uuid4())
    message = NewMessage(
        str(uuid.uuid4()), "Moved", {"city": "X", "country": "Y"}, {"schemaVersion": 4}
    )
    store.append([StreamWrite(f"resident-{resident_id}", -1, [message])])
    with pytest.raises(StreamDataError, match="newer"):
        Repository(Resident, store).get(resident_id)


def test_an_old_version_without_an_upcaster_is_a_stream_data_error(store: EventStore) -> None:
    user_id = str(uuid.uuid4())
    data = {"first_name": "X"}
    message = NewMessage(str(uuid.uuid4()), "Renamed", data, {"schemaVersion": 0})
    store.append([StreamWrite(f"user-{user_id}", -1, [message])])
    with pytest.raises(StreamDataError, match="schema version"):
        Repository(User, store).get(user_id)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"schemaVersion": "1"}, ("Utrecht", "NL")),
        ({"schemaVersion": None}, ("Utrecht", "NL")),
        ({}, ("Utrecht", "NL")),
        (None, ("Utrecht", "NL")),
        ({"schemaVersion": "3"}, ("Utrecht", "FR")),
    ],
)
def test_a_schema_version_as_eventide_writes_it_is_read(
    store: EventStore, metadata: dict[str, object] | None, expected: tuple[str, str]
) -> None:
    """Eventide writes `schemaVersion` as a string, or not at all (null or absent = 1)."""
    resident_id = str(uuid.uuid4())
    data = {"town": "Utrecht"} if expected[1] == "NL" else {"city": "Utrecht", "country": "FR"}
    message = NewMessage(str(uuid.uuid4()), "Relocated", data, metadata)
    store.append([StreamWrite(f"resident-{resident_id}", -1, [message])])
    resident = Repository(Resident, store, snapshot_threshold=0).get(resident_id)
    assert (resident.city, resident.country) == expected


@pytest.mark.parametrize("bad", ["one", "1.0", "-1", "0", 1.0, True, [1]])
def test_a_schema_version_that_is_no_whole_number_is_a_stream_data_error(
    store: EventStore, bad: object
) -> None:
    resident_id = str(uuid.uuid4())
    message = NewMessage(str(uuid.uuid4()), "Moved", {"city": "X"}, {"schemaVersion": bad})
    store.append([StreamWrite(f"resident-{resident_id}", -1, [message])])
    with pytest.raises(StreamDataError, match="bad schema version"):
        Repository(Resident, store).get(resident_id)


@pytest.mark.parametrize(
    ("data", "metadata", "problem"),
    [
        (None, None, "stored data is null"),
        ([], None, "stored data is an array"),
        ("Ann", None, "stored data is a string"),
        (5, None, "stored data is a number"),
        (True, None, "stored data is a boolean"),
        ({"first_name": "Bea"}, [], "stored metadata is an array"),
        ({"first_name": "Bea"}, ["schemaVersion", 1], "stored metadata is an array"),
        ({"first_name": "Bea"}, "v1", "stored metadata is a string"),
        ({"first_name": "Bea"}, 1, "stored metadata is a number"),
    ],
)
def test_a_message_whose_data_or_metadata_is_not_an_object_is_a_stream_data_error(
    store: EventStore, data: object, metadata: object, problem: str
) -> None:
    users = Repository(User, store)
    user = register()
    users.add(user)
    stream = f"user-{user.id}"
    message = NewMessage(str(uuid.uuid4()), "Renamed", data, metadata)  # type: ignore[arg-type]
    store.append([StreamWrite(stream, 0, [message])])

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)
    assert (caught.value.stream_name, caught.value.position) == (stream, 1)
    assert problem in str(caught.value)
    with pytest.raises(StreamDataError, match="position 1"):
        list(store.read(stream))


class GapStore(SnapshotFailingStore):
    """Passes everything to a real store, but its reads skip the message at position 1."""

    def append(self, writes: Sequence[StreamWrite]) -> None:
        self.inner.append(writes)

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        return (m for m in self.inner.read(stream_name, position) if m.position != 1)


def test_a_gap_in_positions_is_a_stream_data_error(store: EventStore) -> None:
    users = Repository(User, GapStore(store), snapshot_threshold=0)
    user = register()
    user.rename(first_name="Bea")
    user.rename(first_name="Cleo")
    users.add(user)

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (f"user-{user.id}", 2)
    assert "gap" in str(caught.value)


def forge(
    messagedb_uri: str, stream: str, position: int, data: str | None, metadata: str | None
) -> None:
    """Insert a row into MessageDB's table directly, as a client that bypasses its functions."""
    with psycopg.connect(messagedb_uri) as conn:
        conn.execute(
            "INSERT INTO message_store.messages (id, stream_name, type, position, data, metadata) "
            "VALUES (gen_random_uuid(), %s, 'Renamed', %s, %s::jsonb, %s::jsonb)",
            (stream, position, data, metadata),
        )


DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize(
    ("data", "metadata", "problem"),
    [
        (None, None, "stored data is SQL NULL"),
        ("null", None, "stored data is null"),
        ('{"first_name": 1e400}', None, "stored data is not readable JSON"),
        ('{"first_name": "Bea", "extra": ' + DEEP + "}", None, "not readable JSON"),
        ('{"first_name": "Bea"}', DEEP, "stored metadata is not readable JSON"),
        ('{"first_name": "Bea"}', '{"schemaVersion": 1e400}', "metadata is not readable"),
        ('{"first_name": "Bea"}', "[]", "stored metadata is an array"),
        ('{"first_name": "Bea"}', '"meta"', "stored metadata is a string"),
    ],
)
def test_a_corrupt_messagedb_row_is_a_stream_data_error_naming_stream_and_position(
    messagedb_store: EventStore,
    messagedb_uri: str,
    data: str | None,
    metadata: str | None,
    problem: str,
) -> None:
    users = Repository(User, messagedb_store)
    user = register()
    users.add(user)
    stream = f"user-{user.id}"
    forge(messagedb_uri, stream, 1, data, metadata)

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (stream, 1)
    assert problem in str(caught.value)


def test_a_gap_in_messagedb_positions_is_a_stream_data_error(
    messagedb_store: EventStore, messagedb_uri: str
) -> None:
    users = Repository(User, messagedb_store)
    user = register()
    users.add(user)
    stream = f"user-{user.id}"
    forge(messagedb_uri, stream, 3, '{"first_name": "Bea"}', None)

    with pytest.raises(StreamDataError) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (stream, 3)
    assert "the event before it is at position 0" in str(caught.value)


@pytest.mark.parametrize("data", [None, "[]", '"snapshot"', '{"version": 1e400}', DEEP])
def test_a_corrupt_messagedb_snapshot_row_is_ignored_and_the_stream_replayed(
    messagedb_store: EventStore,
    messagedb_uri: str,
    data: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    accounts = Repository(BankAccount, messagedb_store, snapshot_threshold=100)
    account = BankAccount.open(owner=uuid.uuid4())
    account.deposit(decimal.Decimal(2))
    accounts.add(account)
    with psycopg.connect(messagedb_uri) as conn:
        conn.execute(
            "INSERT INTO message_store.messages (id, stream_name, type, position, data) "
            "VALUES (gen_random_uuid(), %s, 'Snapshot', 0, %s::jsonb)",
            (f"bankAccount:snapshot-{account.id}", data),
        )

    with caplog.at_level(logging.INFO, logger="aggregen"):
        loaded = accounts.get(account.id)

    assert (loaded.balance, loaded._version) == (decimal.Decimal(2), 1)
    assert [r.getMessage()[:17] for r in caplog.records] == ["ignoring snapshot"]
