"""Generated upcasters: what they do to older data, and the hand-written ones `check` requires.

The golden case `evolution` holds an event at version 3 with every safe evolution
(aliases, value aliases in fields, named enums and list items, renamed fields inside
value objects, defaults added) and versions upcast by hand.
"""

from __future__ import annotations

import decimal
import importlib
import shutil
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregen.generator import pipeline

from .support import GOLDEN, importable

CASE = GOLDEN / "evolution"

UPCASTER = '''\
from typing import Any


def upcast_deposited(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Version 1 stored the amount in cents under 'cents'."""
    data = dict(data)
    data["amount"] = str(decimal.Decimal(data.pop("cents")) / 100)
    return data


def upcast_closed(data: dict[str, Any], version: int) -> dict[str, Any]:
    return {}


import decimal
'''


@pytest.fixture(scope="module")
def payments() -> Iterator[types.ModuleType]:
    with importable(CASE / "expected", ["payments"]):
        yield importlib.import_module("payments")


def test_an_older_payload_reads_as_the_current_version(payments: types.ModuleType) -> None:
    stored: dict[str, Any] = {
        "amount": "12.50",
        "memo": "rent",
        "channel": "online",
        "kind": "plastic",
        "payer": {"full_name": "Ada", "country": None},
        "cosigners": [{"full_name": "Bob"}, {"name": "Cy", "country": "BE"}],
        "tags": ["gold", "new"],
        "notes": None,
        "currency": None,
        "dropped": "ignored",
    }
    before = dict(stored)
    data = payments.Deposited.upcast(stored, 2)
    assert stored == before, "the stored data is not changed in place"
    event = payments.Deposited.from_data(data)
    assert event == payments.Deposited(
        amount=decimal.Decimal("12.50"),
        reference="rent",
        channel=payments.Channel.WEB,
        kind="card",
        payer=payments.Party(name="Ada", country="NL"),
        cosigners=[payments.Party(name="Bob"), payments.Party(name="Cy", country="BE")],
        tags=["vip", "new"],
        notes=[],
        currency="EUR",
    )


def test_the_first_alias_wins_and_a_current_name_is_never_overwritten(
    payments: types.ModuleType,
) -> None:
    data = payments.Deposited.upcast({"amount": "1", "memo": "a", "note": "b"}, 2)
    assert data["reference"] == "a"
    data = payments.Deposited.upcast({"amount": "1", "reference": "c", "memo": "a"}, 2)
    assert data["reference"] == "c"


def test_current_data_is_left_as_it_is(payments: types.ModuleType) -> None:
    event = payments.Deposited(
        amount=decimal.Decimal("3"),
        reference=None,
        payer=payments.Party(name="Ada"),
        cosigners=[payments.Party(name="Bob")],
        tags=["vip"],
        notes=[payments.Note(text="x")],
    )
    data = event.to_data()
    assert payments.Deposited.upcast(data, 2) == data


def test_versions_upcast_by_hand_call_the_hand_written_module(
    payments: types.ModuleType,
) -> None:
    with pytest.raises(NotImplementedError, match="Deposited: no upcaster from version 1 yet"):
        payments.Deposited.upcast({"cents": 1250}, 1)
    assert payments.Withdrawn.upcast({"amount": "1"}, 1) == {"amount": "1"}


def test_every_earlier_wire_name_reads_as_the_current_class(payments: types.ModuleType) -> None:
    events = payments.Account.__events__
    assert events["payments.Deposited"] is payments.Deposited
    assert events["MoneyDeposited"] is payments.Deposited
    assert events["payments.MoneyIn"] is payments.Deposited
    assert "upcast" not in vars(payments.Opened), "version 1 events keep the runtime's default"


def test_check_requires_the_hand_written_upcasters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    shutil.copy(CASE / "schema.yaml", schemas / "payments.yaml")
    out = tmp_path / "out"
    report = pipeline.generate([schemas], out)
    upcasters = out / "payments" / "account_upcasters.py"
    assert "payments/account_upcasters.py" in report.scaffolds_created
    shown = upcasters.as_posix()
    stubs = [
        f"{shown}:23:1: upcast_closed still raises NotImplementedError: write the upcaster of "
        "Closed from version 1",
        f"{shown}:32:1: upcast_deposited still raises NotImplementedError: write the upcaster "
        "of Deposited from version 1",
    ]
    assert sorted(report.unwritten) == stubs
    check = pipeline.check([schemas], out)
    assert (check.fresh, check.ok, sorted(check.unwritten)) == (True, False, stubs)

    upcasters.write_text(UPCASTER, encoding="utf-8")
    assert pipeline.check([schemas], out).ok
    with importable(out, ["payments"]):
        module = importlib.import_module("payments")
        data = module.Deposited.upcast({"cents": 1250, "memo": "rent"}, 1)
        assert module.Deposited.from_data(data).amount == decimal.Decimal("12.5")
        assert data["reference"] == "rent", "the generated steps run after the hand-written one"

    upcasters.write_text(UPCASTER.split("\n\n\ndef upcast_closed")[0] + "\n", encoding="utf-8")
    check = pipeline.check([schemas], out)
    assert check.unwritten == (
        f"{shown}:1:1: no function upcast_closed: event Closed lists version 1 under "
        "`hand_written_upcast`; add `def upcast_closed(data: dict[str, Any], version: int) -> "
        "dict[str, Any]` returning data the current version reads",
    )
