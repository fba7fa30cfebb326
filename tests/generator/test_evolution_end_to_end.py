"""A domain evolves from version 1 to 3 while its events stay stored, on both stores.

Version 1 of `ledger` is generated into a temporary directory and events are stored
with it. Version 2 renames a field (its old name kept as an alias) and adds one with
a default; version 3 renames an enum value (`value_aliases`), widens Integer to
Decimal and gives an event a new wire type, its old one kept as an alias. Each
version is generated into its own directory and imported afresh; the stream, which
then mixes events of versions 1, 2 and 3, rehydrates as version 3 events. The lock
file next to each version's schema is kept up to date, so generation also checks
that no locked version went missing or changed in place, and `breaking` finds no
STORAGE break between the versions.
"""

from __future__ import annotations

import decimal
import importlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.generator import pipeline
from aggregen.generator.validate import load_and_validate
from aggregen.review.compare import find_breaking_changes
from aggregen.review.lock import read_lock, update_lock
from aggregen.review.rules import STORAGE
from aggregen.runtime import EventStore, InMemoryEventStore, MessageDBEventStore, connect

from .support import importable

V1 = """\
domain: ledger
aggregates:
  Account:
    snapshot_threshold: 0
    fields:
      owner: String
      last_amount: Integer
      note: Text
      channel: {type: Enum, values: [online, branch]}
    events:
      Opened:
        fields:
          owner: {type: String, required: true}
      Deposited:
        fields:
          amount: {type: Integer, required: true}
          memo: Text
          channel: {type: Enum, values: [online, branch]}
        maps: {amount: last_amount, memo: note}
    commands:
      open: {event: Opened, creates: true}
      deposit: {event: Deposited}
"""

V2 = (
    V1.replace(
        "      Deposited:\n        fields:",
        "      Deposited:\n        version: 2\n        fields:",
    )
    .replace("          memo: Text", "          reference: {type: Text, aliases: [memo]}")
    .replace(
        "          channel: {type: Enum, values: [online, branch]}\n        maps:",
        "          channel: {type: Enum, values: [online, branch]}\n"
        "          currency: {type: String, default: EUR}\n        maps:",
    )
    .replace(
        "maps: {amount: last_amount, memo: note}", "maps: {amount: last_amount, reference: note}"
    )
)

V3 = (
    V2.replace("version: 2", "version: 3")
    .replace("values: [online, branch]", "values: [web, branch]")
    .replace(
        "          channel: {type: Enum, values: [web, branch]}\n          currency",
        "          channel: {type: Enum, values: [web, branch], value_aliases: {online: web}}\n"
        "          currency",
    )
    .replace("amount: {type: Integer, required: true}", "amount: {type: Decimal, required: true}")
    .replace("last_amount: Integer", "last_amount: Decimal")
    .replace(
        "      Opened:\n        fields:",
        "      Opened:\n        type: ledger.Opened\n        version: 2\n"
        "        aliases: [Opened]\n        fields:",
    )
)

BEHAVIOR = '''\
"""Keeps every Deposited event applied, to look at them after rehydration."""

from __future__ import annotations

from .account_base import AccountBase, Deposited

__all__ = ["Account"]


class Account(AccountBase):
    deposits: list[Deposited]

    def _init_state(self) -> None:
        super()._init_state()
        self.deposits = []

    def apply_deposited(self, event: Deposited) -> None:
        super().apply_deposited(event)
        self.deposits.append(event)
'''


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (V2, "version: 2"),
        (V2, "aliases: [memo]"),
        (V2, "default: EUR"),
        (V2, "reference: note"),
        (V3, "value_aliases: {online: web}"),
        (V3, "amount: {type: Decimal"),
        (V3, "last_amount: Decimal"),
        (V3, "aliases: [Opened]"),
    ],
)
def test_each_version_holds_its_change(text: str, fragment: str) -> None:
    assert fragment in text


@pytest.fixture(scope="module")
def messagedb(messagedb_uri: str) -> Iterator[EventStore]:
    store = connect(messagedb_uri, max_size=2)
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


class Versions:
    """Each schema version in its own schema directory (with the lock carried over)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.previous: Path | None = None

    def generate(self, number: int, text: str, behavior: str | None = None) -> Path:
        schemas = self.root / f"v{number}" / "schemas"
        schemas.mkdir(parents=True)
        (schemas / "ledger.yaml").write_text(text, encoding="utf-8")
        if self.previous is not None:
            shutil.copy(self.previous / "aggregen.lock.json", schemas / "aggregen.lock.json")
        out = self.root / f"v{number}" / "generated"
        if behavior is not None:
            (out / "ledger").mkdir(parents=True)
            (out / "ledger" / "account_behavior.py").write_text(behavior, encoding="utf-8")
        pipeline.generate([schemas], out)  # checks the lock of the versions before
        update_lock(load_and_validate([schemas]), schemas / "aggregen.lock.json")
        self.previous = schemas
        return out


def test_a_stream_of_versions_1_2_and_3_reads_as_version_3(
    tmp_path: Path, store: EventStore
) -> None:
    versions = Versions(tmp_path)
    owner = f"owner-{uuid.uuid4()}"

    with importable(versions.generate(1, V1), ["ledger"]):
        ledger = importlib.import_module("ledger")
        accounts = ledger.AccountRepository(store)
        account = ledger.Account.open(owner=owner)
        account.deposit(amount=5, memo="first", channel="online")
        account.deposit(amount=7, channel="branch")
        accounts.add(account)
        account_id = account.id
        assert ledger.Deposited.__schema_version__ == 1

    with importable(versions.generate(2, V2), ["ledger"]):
        ledger = importlib.import_module("ledger")
        accounts = ledger.AccountRepository(store)
        account = accounts.get(account_id)
        assert (account.last_amount, account.note, account.channel) == (7, None, "branch")
        account.deposit(amount=11, reference="second", channel="online", currency="USD")
        accounts.add(account)

    with importable(versions.generate(3, V3, BEHAVIOR), ["ledger"]):
        ledger = importlib.import_module("ledger")
        accounts = ledger.AccountRepository(store)
        account = accounts.get(account_id)
        assert type(account) is ledger.Account
        assert account.owner == owner
        assert account.channel == "web"
        assert account.last_amount == decimal.Decimal(11)
        assert all(type(e) is ledger.Deposited for e in account.deposits)
        assert [(e.metadata.schema_version, e) for e in account.deposits] == [
            (1, ledger.Deposited(amount=decimal.Decimal(5), reference="first", channel="web")),
            (1, ledger.Deposited(amount=decimal.Decimal(7), channel="branch")),
            (
                2,
                ledger.Deposited(
                    amount=decimal.Decimal(11), reference="second", channel="web", currency="USD"
                ),
            ),
        ]
        assert account.deposits[0].currency == "EUR"

        account.deposit(amount=decimal.Decimal("2.50"), reference="third", channel="web")
        accounts.add(account)
        again = accounts.get(account_id)
        assert [e.metadata.schema_version for e in again.deposits] == [1, 1, 2, 3]
        assert [e.amount for e in again.deposits] == [5, 7, 11, decimal.Decimal("2.50")]
        assert again._version == 4

        stored = list(store.read(ledger.Account.stream_name(account_id), 0))
        assert [m.type for m in stored] == ["Opened", *["Deposited"] * 4]


def test_breaking_finds_no_storage_break_between_the_versions(tmp_path: Path) -> None:
    versions = Versions(tmp_path)
    for number, text in ((1, V1), (2, V2), (3, V3)):
        before = versions.previous
        versions.generate(number, text)
        if before is None:
            continue
        current = versions.previous
        assert current is not None
        lock = read_lock(current / "aggregen.lock.json")
        findings = find_breaking_changes(
            load_and_validate([before]), load_and_validate([current]), lock=lock
        )
        assert [f.rule for f in findings if f.category == STORAGE] == [], number
