"""A small hand-written domain for the runtime tests: a user and a bank account."""

from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from aggregen.runtime import Aggregate, Event, ValidationError


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered(Event):
    email: str
    first_name: str | None = None
    joined_on: datetime.date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Renamed(Event):
    first_name: str


class User(Aggregate):
    __events__: ClassVar = {"Registered": Registered, "Renamed": Renamed}

    email: str | None
    first_name: str | None
    joined_on: datetime.date | None

    def _init_state(self) -> None:
        self.email = None
        self.first_name = None
        self.joined_on = None

    @classmethod
    def register(
        cls,
        *,
        email: str,
        first_name: str | None = None,
        joined_on: datetime.date | None = None,
        id: str | None = None,
    ) -> Self:
        user = cls(id=id)
        user.raise_(Registered(email=email, first_name=first_name, joined_on=joined_on))
        return user

    def rename(self, *, first_name: str) -> None:
        if len(first_name) > 50:
            raise ValidationError({"first_name": ["at most 50 characters"]})
        self.raise_(Renamed(first_name=first_name))

    def apply(self, event: Event) -> None:
        match event:
            case Registered():
                self.email = event.email
                self.first_name = event.first_name
                self.joined_on = event.joined_on
            case Renamed():
                self.first_name = event.first_name
            case _:
                super().apply(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened(Event):
    owner: uuid.UUID
    opened_at: datetime.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposited(Event):
    __type_name__: ClassVar[str] = "bank.Deposited"
    amount: decimal.Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawn(Event):
    amount: decimal.Decimal


class BankAccount(Aggregate):
    __events__: ClassVar = {
        "Opened": Opened,
        "bank.Deposited": Deposited,
        "Withdrawn": Withdrawn,
    }

    owner: uuid.UUID | None
    balance: decimal.Decimal

    def _init_state(self) -> None:
        self.owner = None
        self.balance = decimal.Decimal(0)

    @classmethod
    def open(cls, *, owner: uuid.UUID, id: str | None = None) -> Self:
        account = cls(id=id)
        now = datetime.datetime.now(datetime.UTC)
        account.raise_(Opened(owner=owner, opened_at=now))
        return account

    def deposit(self, amount: decimal.Decimal) -> None:
        self.raise_(Deposited(amount=amount))

    def withdraw(self, amount: decimal.Decimal) -> None:
        if amount > self.balance:
            raise ValidationError({"amount": [f"exceeds the balance {self.balance}"]})
        self.raise_(Withdrawn(amount=amount))

    def apply(self, event: Event) -> None:
        match event:
            case Opened():
                self.owner = event.owner
            case Deposited():
                self.balance += event.amount
            case Withdrawn():
                self.balance -= event.amount
            case _:
                super().apply(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class Moved(Event):
    """Version 3: v1 had `town`; v2 renamed it `city`; v3 added `country` (default "NL")."""

    __schema_version__: ClassVar[int] = 3
    city: str
    country: str

    @classmethod
    def upcast(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        if version == 1:
            data = {"city": data["town"]}
            version = 2
        if version == 2:
            data = {**data, "country": "NL"}
            version = 3
        return data


class Resident(Aggregate):
    __events__: ClassVar = {"Moved": Moved, "Relocated": Moved}

    city: str | None
    country: str | None

    def _init_state(self) -> None:
        self.city = None
        self.country = None

    def apply(self, event: Event) -> None:
        assert isinstance(event, Moved)
        self.city = event.city
        self.country = event.country
