"""End to end: generate schemas/ into a temporary directory, import, run, store, reload.

Every scenario runs on the in-memory store and on real MessageDB.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import random
import re
import shutil
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.generator import pipeline
from aggregen.runtime import (
    EventStore,
    ExpectedVersionError,
    InMemoryEventStore,
    MessageDBEventStore,
    NewMessage,
    StreamDataError,
    StreamWrite,
    ValidationError,
    connect,
)

from .support import ROOT, importable

PACKAGES = ("identity", "banking")


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> Iterator[types.SimpleNamespace]:
    """The generated `identity` and `banking` packages, imported from a fresh output."""
    out = tmp_path_factory.mktemp("e2e") / "generated"
    behavior = out / "banking" / "bank_account_behavior.py"
    behavior.parent.mkdir(parents=True)
    shutil.copy(ROOT / "generated" / "banking" / "bank_account_behavior.py", behavior)
    pipeline.generate([ROOT / "schemas"], out)
    with importable(out, PACKAGES):
        yield types.SimpleNamespace(
            identity=importlib.import_module("identity"),
            banking=importlib.import_module("banking"),
            out=out,
        )


@pytest.fixture(scope="module")
def messagedb(messagedb_uri: str) -> Iterator[EventStore]:
    store = connect(messagedb_uri, max_size=4)
    assert isinstance(store, MessageDBEventStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["memory", pytest.param("messagedb", marks=pytest.mark.messagedb)])
def store(request: pytest.FixtureRequest) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore()
    found: EventStore = request.getfixturevalue("messagedb")
    return found


def test_register_rename_and_reload(domains: types.SimpleNamespace, store: EventStore) -> None:
    identity = domains.identity
    users = identity.UserRepository(store)
    user = identity.User.register(
        email="ada@example.org", first_name="Ada", joined_on=datetime.date(2024, 3, 1)
    )
    user.rename(first_name="Augusta")
    users.add(user)
    again = users.get(user.id)
    assert type(again) is identity.User
    assert (again.email, again.first_name, again.joined_on) == (
        "ada@example.org",
        "Augusta",
        datetime.date(2024, 3, 1),
    )
    assert again._version == 1
    assert [type(e).__name__ for e in user.pending_events] == []


def test_commands_list_every_failing_field(domains: types.SimpleNamespace) -> None:
    with pytest.raises(ValidationError) as caught:
        domains.identity.User.register(email=None, first_name="x" * 51, joined_on="2024-01-01")
    assert sorted(caught.value.messages) == ["email", "first_name", "joined_on"]
    assert caught.value.messages["email"] == ["is required"]


def test_a_concurrent_change_is_refused(domains: types.SimpleNamespace, store: EventStore) -> None:
    identity = domains.identity
    users = identity.UserRepository(store)
    user = identity.User.register(email="bob@example.org")
    users.add(user)
    first, second = users.get(user.id), users.get(user.id)
    first.rename(first_name="Robert")
    users.add(first)
    second.rename(first_name="Bobby")
    with pytest.raises(ExpectedVersionError):
        users.add(second)
    assert users.get(user.id).first_name == "Robert"


def _holder(banking: types.ModuleType) -> object:
    address = banking.Address(street="Main St 1", city="Berlin", postcode="10115")
    return banking.Holder(customer_id=str(uuid.uuid4()), name="Ada", address=address)


def test_hand_written_balance_and_overdraw_guard(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    banking = domains.banking
    accounts = banking.BankAccountRepository(store, snapshot_threshold=3)
    opened_at = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    account = banking.BankAccount.open(
        holder=_holder(banking),
        opened_at=opened_at,
        currency=banking.Currency.GBP,
        overdraft_limit=decimal.Decimal("10"),
        tags=["main"],
    )
    account.deposit(amount=decimal.Decimal("100.50"))
    account.withdraw(amount=decimal.Decimal("110.50"))
    with pytest.raises(ValidationError) as caught:
        account.withdraw(amount=decimal.Decimal("0.01"))
    assert list(caught.value.messages) == ["amount"]
    account.change_status(new_status="frozen", reason="audit")
    accounts.add(account)
    again = accounts.get(account.id)
    assert type(again) is banking.BankAccount
    assert again.balance == decimal.Decimal("-10.00")
    assert again.status == "frozen"
    assert again.currency is banking.Currency.GBP
    assert again.holder == account.holder
    assert again.opened_at == opened_at
    assert again.tags == ["main"]
    assert again._version == 3


def test_snapshots_restore_value_objects_and_decimals(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    banking = domains.banking
    accounts = banking.BankAccountRepository(store, snapshot_threshold=2)
    account = banking.BankAccount.open(
        holder=_holder(banking), opened_at=datetime.datetime.now(datetime.UTC)
    )
    account.deposit(amount=decimal.Decimal("5"))
    accounts.add(account)
    loaded = accounts.get(account.id)
    loaded.deposit(amount=decimal.Decimal("2.25"))
    accounts.add(loaded)
    again = accounts.get(account.id)
    assert again.balance == decimal.Decimal("7.25")
    assert again.holder == account.holder
    assert again._state_shape() == type(account)._state_shape()


def test_an_integer_identifier_and_lists_of_lists(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    banking = domains.banking
    customers = banking.CustomerRepository(store)
    number = random.randrange(1, 2**62)
    customer = banking.Customer.enroll(number=number, name="Ada")
    assert customer.id == str(number)
    assert customer.number == number
    customer.score(risk_scores=[[0.5, 1.0], []])
    customers.add(customer)
    again = customers.get(str(number))
    assert again.name == "Ada"
    assert again.risk_scores == [[0.5, 1.0], []]
    assert again.preferred_currencies == [banking.Currency.EUR]
    with pytest.raises(ValidationError):
        banking.Customer.enroll(number=0, name="Nobody")


def test_generated_events_round_trip_through_their_data(domains: types.SimpleNamespace) -> None:
    banking = domains.banking
    event = banking.Opened(
        holder=_holder(banking), opened_at=datetime.datetime(2024, 5, 6, tzinfo=datetime.UTC)
    )
    assert banking.Opened.from_data(event.to_data()) == event


def test_the_package_exports_what_it_lists(domains: types.SimpleNamespace) -> None:
    for package in (domains.identity, domains.banking):
        assert package.__all__ == sorted(package.__all__, key=str)
        for name in package.__all__:
            assert getattr(package, name) is not None
    assert {"User", "UserRepository", "Registered", "Renamed"} <= set(domains.identity.__all__)
    assert Path(domains.out / "identity" / "py.typed").is_file()


def _append(
    store: EventStore, stream: str, expected: int, type_name: str, data: dict[str, object]
) -> None:
    message = NewMessage(str(uuid.uuid4()), type_name, data, {"schemaVersion": 1})
    store.append([StreamWrite(stream, expected, [message])])


def test_a_stored_event_that_breaks_a_tightened_rule_still_reads(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    """Rules run when events are made; a stored event is a fact, read whatever the rules."""
    identity = domains.identity
    users = identity.UserRepository(store)
    user = identity.User.register(email="ada@example.org", first_name="Ada")
    users.add(user)
    too_long = "A" * 51  # first_name has max_length 50 now
    _append(store, user._stream_name(), 0, "Renamed", {"first_name": too_long})

    again = users.get(user.id)

    assert again.first_name == too_long
    assert again._version == 1
    with pytest.raises(ValidationError, match="at most 50 characters"):
        again.rename(first_name=too_long)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"first_name": 5}, "first_name must be a str, not int"),
        ({"first_name": None}, "first_name must be a str, not NoneType"),
        ({}, "Renamed lacks its field 'first_name'"),
    ],
)
def test_a_stored_value_of_the_wrong_type_names_its_field(
    domains: types.SimpleNamespace, store: EventStore, data: dict[str, object], message: str
) -> None:
    identity = domains.identity
    users = identity.UserRepository(store)
    user = identity.User.register(email="ada@example.org")
    users.add(user)
    _append(store, user._stream_name(), 0, "Renamed", data)

    with pytest.raises(StreamDataError, match=re.escape(message)) as caught:
        users.get(user.id)

    assert (caught.value.stream_name, caught.value.position) == (user._stream_name(), 1)


@pytest.mark.parametrize(
    ("holder", "message"),
    [
        ({"customer_id": 7, "name": "Ada"}, "holder.customer_id must be a str, not int"),
        ({"name": "Ada"}, "holder lacks its field 'customer_id'"),
        ("Ada", "holder must be an object, not str"),
        (
            {"customer_id": str(uuid.uuid4()), "name": "Ada", "address": {"street": 1}},
            "holder.address.street must be a str, not int",
        ),
    ],
)
def test_a_bad_value_object_in_a_stored_event_names_its_path(
    domains: types.SimpleNamespace, store: EventStore, holder: object, message: str
) -> None:
    banking = domains.banking
    account_id = str(uuid.uuid4())
    data = {"holder": holder, "opened_at": "2024-05-06T00:00:00+00:00"}
    _append(store, f"bankAccount-{account_id}", -1, "Opened", data)

    with pytest.raises(StreamDataError, match=re.escape(message)):
        banking.BankAccountRepository(store).get(account_id)


def test_reads_check_list_items_and_enum_values(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    banking = domains.banking
    customers = banking.CustomerRepository(store)
    cases: list[tuple[dict[str, object], str]] = [
        ({"risk_scores": [[0.5, "high"]]}, "risk_scores[][] must be a float, not str"),
        ({"risk_scores": {"a": 1}}, "risk_scores must be a list, not dict"),
    ]
    for data, message in cases:
        number = random.randrange(1, 2**62)
        customers.add(banking.Customer.enroll(number=number, name="Ada"))
        _append(store, f"customer-{number}", 0, "Scored", data)
        with pytest.raises(StreamDataError, match=re.escape(message)):
            customers.get(str(number))
    number = random.randrange(1, 2**62)
    enrolled = {"number": number, "name": "Ada", "preferred_currencies": ["EUR", "XXX"]}
    _append(store, f"customer-{number}", -1, "Enrolled", enrolled)
    with pytest.raises(StreamDataError, match=r"preferred_currencies\[\] must be a value of"):
        customers.get(str(number))


def test_a_whole_number_read_into_a_float_field_is_a_float(
    domains: types.SimpleNamespace, store: EventStore
) -> None:
    banking = domains.banking
    customers = banking.CustomerRepository(store)
    number = random.randrange(1, 2**62)
    customers.add(banking.Customer.enroll(number=number, name="Ada"))
    _append(store, f"customer-{number}", 0, "Scored", {"risk_scores": [[1, 0.5]]})

    scores = customers.get(str(number)).risk_scores

    assert scores == [[1.0, 0.5]]
    assert type(scores[0][0]) is float
