"""End to end: generate schemas/ into a temporary directory, import, run, store, reload.

Every scenario runs on the in-memory store and on real MessageDB.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import random
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
