"""What generated events and value objects accept, hold and store: on both stores.

A value an event accepts must be one every store can hold and every reader reads
back the same: non-finite floats, naive datetimes, the NUL character and lone
surrogates are refused when the event is made, naming the field; lists are copied
into immutable tuples, so a list changed after a command changes nothing stored.
Uses the committed `generated/banking` package and the golden `field_types` and
`values_and_enums` packages.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import importlib
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aggregen.generator import pipeline
from aggregen.generator.errors import SchemaErrors
from aggregen.runtime import Event, EventStore, ValidationError
from aggregen.runtime import validation as v
from aggregen.runtime.codec import encode

from .generator.support import GOLDEN, ROOT, importable

NOW = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
OWNER = "6fa459ea-ee8a-3ca4-894e-db77e160355e"


@pytest.fixture(scope="module")
def banking() -> Iterator[types.ModuleType]:
    with importable(ROOT / "generated", ["banking"]):
        yield importlib.import_module("banking")


@pytest.fixture(scope="module")
def samples() -> Iterator[types.ModuleType]:
    with importable(GOLDEN / "field_types" / "expected", ["field_types"]):
        yield importlib.import_module("field_types")


@pytest.fixture(scope="module")
def canvases() -> Iterator[types.ModuleType]:
    with importable(GOLDEN / "values_and_enums" / "expected", ["values_and_enums"]):
        yield importlib.import_module("values_and_enums")


def _refused(make: Callable[[], object]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        make()
    return caught.value.messages


def _stored_events(store: EventStore, aggregate_class: Any, aggregate_id: str) -> list[Any]:
    stream = aggregate_class.stream_name(aggregate_id)
    return [aggregate_class.__events__[m.type].from_data(m.data) for m in store.read(stream)]


# -- rule messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (v.TextRule(min_length=1), "", "must be at least 1 character long"),
        (v.TextRule(min_length=2), "a", "must be at least 2 characters long"),
        (v.TextRule(max_length=1), "ab", "must be at most 1 character long"),
        (v.TextRule(max_length=0), "a", "must be at most 0 characters long"),
    ],
)
def test_length_messages_say_character_or_characters(
    rule: v.Rule, value: str, message: str
) -> None:
    errors: v.Errors = {}
    rule.check(errors, "name", value)
    assert errors == {"name": [message]}


# -- non-finite floats (issue 10 item 1) ----------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_float_is_refused_where_it_is_given(
    bad: float,
    samples: types.ModuleType,
    canvases: types.ModuleType,
    banking: types.ModuleType,
) -> None:
    record = samples.Sample.record
    # an optional field, with bounds
    assert "ratio" in _refused(lambda: record(code="AB", updated_at=NOW, owner=OWNER, ratio=bad))
    # a field of a value object
    assert _refused(lambda: canvases.Point(x=bad, y=0.0)) == {
        "x": [f"must be a finite number, not {bad!r}"]
    }
    # an item of a list of lists
    customer = banking.Customer.enroll(number=7, name="Ann")
    assert "risk_scores[1][0]" in _refused(lambda: customer.score(risk_scores=[[0.5], [bad]]))
    assert len(customer.pending_events) == 1


def test_a_float_field_holds_a_float_for_an_int(
    store: EventStore, samples: types.ModuleType, banking: types.ModuleType
) -> None:
    sample = samples.Sample.record(code="AB", updated_at=NOW, owner=OWNER, ratio=1)
    customer = banking.Customer.enroll(number=8, name="Ann")
    customer.score(risk_scores=[[1, 0.5]])
    assert type(sample.pending_events[0].ratio) is float
    assert [type(x) for x in customer.pending_events[1].risk_scores[0]] == [float, float]
    assert _refused(
        lambda: samples.Sample.record(code="AB", updated_at=NOW, owner=OWNER, ratio=10**400)
    ) == {"ratio": ["must fit in a float"]}


# -- naive datetimes (issue 10 item 3) ------------------------------------------------


def test_a_naive_datetime_is_refused_naming_the_field(samples: types.ModuleType) -> None:
    naive = datetime.datetime(2024, 5, 1, 12, 30)
    messages = _refused(lambda: samples.Sample.record(code="AB", updated_at=naive, owner=OWNER))
    assert list(messages) == ["updated_at"]
    assert messages["updated_at"][0].startswith("must be timezone-aware")
    fraction = naive.replace(tzinfo=datetime.timezone(datetime.timedelta(microseconds=1)))
    assert _refused(lambda: samples.Sample.record(code="AB", updated_at=fraction, owner=OWNER)) == {
        "updated_at": ["must have a UTC offset of whole seconds, not 0:00:00.000001"]
    }
    aware = naive.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-3)))
    assert samples.Sample.record(code="AB", updated_at=aware, owner=OWNER).updated_at == aware


# -- NUL and lone surrogates (issue 11 item 7) ----------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("a\x00b", "must not contain the NUL character (U+0000)"),
        ("a\ud800b", "must not contain a lone surrogate (U+D800 to U+DFFF)"),
        ("\udfff", "must not contain a lone surrogate (U+D800 to U+DFFF)"),
    ],
)
def test_text_no_store_can_hold_is_refused_and_nothing_is_stored(
    bad: str, message: str, store: EventStore, banking: types.ModuleType
) -> None:
    Address = banking.Address
    assert _refused(lambda: Address(street=bad, city="Bonn", postcode="53111")) == {
        "street": [message]
    }
    account = _open_account(banking)
    accounts = banking.BankAccountRepository(store)
    assert _refused(lambda: account.write_note(notes=bad)) == {"notes": [message]}
    assert _refused(lambda: _open_account(banking, tags=["ok", bad])) == {"tags[1]": [message]}
    accounts.add(account)
    assert [type(e).__name__ for e in _stored_events(store, banking.BankAccount, account.id)] == [
        "Opened"
    ]


def _open_account(banking: types.ModuleType, **values: Any) -> Any:
    holder = banking.Holder(customer_id=str(uuid.uuid4()), name="Ann")
    return banking.BankAccount.open(holder=holder, opened_at=NOW, **values)


def test_unusual_text_every_store_holds_reads_back_the_same(
    store: EventStore, banking: types.ModuleType
) -> None:
    text = "\x01\t\u2028\uffff \U0001f600 \\u0000 caf\u00e9"
    account = _open_account(banking, tags=[text])
    account.write_note(notes=text)
    written = list(account.pending_events)
    accounts = banking.BankAccountRepository(store)
    accounts.add(account)
    stored = _stored_events(store, banking.BankAccount, account.id)
    assert stored == written
    assert (stored[0].tags, stored[1].notes) == ((text,), text)
    assert accounts.get(account.id).tags == [text]


# -- shared lists (issue 10 item 2) ---------------------------------------------------


def test_a_list_changed_after_the_command_changes_nothing_stored_or_applied(
    store: EventStore, banking: types.ModuleType
) -> None:
    tags = ["north"]
    account = _open_account(banking, tags=tags)
    tags.append("south")
    tags[0] = "x" * 500  # would break the rule, had the event kept the list
    accounts = banking.BankAccountRepository(store)
    accounts.add(account)
    assert account.tags == ["north"]
    assert accounts.get(account.id).tags == ["north"]
    assert _stored_events(store, banking.BankAccount, account.id)[0].tags == ("north",)


def test_events_and_values_hold_tuples_down_through_lists_and_value_objects(
    store: EventStore, banking: types.ModuleType, canvases: types.ModuleType
) -> None:
    scores = [[0.5, 1.0], []]
    number = uuid.uuid4().int % 10**15  # the shared MessageDB keeps every stream
    customer = banking.Customer.enroll(number=number, name="Ann")
    customer.score(risk_scores=scores)
    scores[0].append(2.0)
    scored = customer.pending_events[1]
    assert scored.risk_scores == ((0.5, 1.0), ())
    assert customer.risk_scores == [[0.5, 1.0], []]
    customer.risk_scores[0].append(3.0)  # the state is the aggregate's own copy
    assert scored.risk_scores == ((0.5, 1.0), ())
    customers = banking.CustomerRepository(store)
    customers.add(customer)
    assert customers.get(str(number)).risk_scores == [[0.5, 1.0], []]

    points = [canvases.Point(x=1.0, y=2.0)]
    shape = canvases.Shape(points=points)
    points.clear()
    assert shape.points == (canvases.Point(x=1.0, y=2.0),)
    with pytest.raises(AttributeError):
        shape.points.append(canvases.Point(x=0.0, y=0.0))


def test_a_list_given_directly_is_copied_and_a_string_is_not_a_list(
    samples: types.ModuleType,
) -> None:
    labels = ["a"]
    event = samples.Recorded(code="AB", updated_at=NOW, owner=OWNER, labels=labels)
    labels.append("b")
    assert event.labels == ("a",)
    assert _refused(
        lambda: samples.Recorded(code="AB", updated_at=NOW, owner=OWNER, labels="ab")
    ) == {"labels": ["must be a list, not str"]}


def test_frozen_copies_lists_at_every_depth_and_leaves_other_values() -> None:
    assert v.frozen([[1, 2], (3,), []]) == ((1, 2), (3,), ())
    assert v.frozen([[1], [2.5]], v.as_float) == ((1.0,), (2.5,))
    assert v.frozen("ab") == "ab"
    assert v.frozen(None) is None
    assert v.as_float(True) is True
    assert v.as_float(decimal.Decimal(1)) == decimal.Decimal(1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_hand_written_event_never_writes_a_non_finite_float(bad: float) -> None:
    with pytest.raises(ValueError, match="cannot store the non-finite float"):
        encode(bad)
    assert encode(-0.0) == 0.0


def test_a_naive_date_time_default_is_a_schema_error(tmp_path: Path) -> None:
    schema = tmp_path / "meters.yaml"
    schema.write_text(
        "domain: meters\naggregates:\n  Meter:\n    events:\n      Read:\n        fields:\n"
        '          at: {type: DateTime, default: "2024-01-01T10:00:00"}\n'
        '          on: {type: DateTime, default: "2024-01-01T10:00:00Z"}\n',
        encoding="utf-8",
    )
    with pytest.raises(SchemaErrors) as raised:
        pipeline.models([schema])
    assert [(e.line, e.message) for e in raised.value.errors] == [
        (
            7,
            "field 'at': must name its timezone (such as +00:00 or Z), not "
            "'2024-01-01T10:00:00': a naive date-time names no instant",
        )
    ]


def test_a_hand_written_event_may_hold_a_sequence_as_a_tuple() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Tagged(Event):
        tags: Sequence[str] = ()

    event = Tagged(tags=("a", "b"))
    assert event.to_data() == {"tags": ["a", "b"]}
    assert Tagged.from_data({"tags": ["a", "b"]}).tags == ("a", "b")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", " 4f2a0b1c-77d2-4e4e-9d1f-1b7a0b7c5d10"])
def test_an_implicit_id_that_is_not_a_uuid_is_refused_by_the_creating_command(
    banking: types.ModuleType, bad_id: str
) -> None:
    """The `id` aggregen adds is an Identifier, checked as an Identifier field is: a
    canonical UUID, or None for a new one."""
    assert _refused(lambda: _open_account(banking, id=bad_id)) == {
        "id": ["must be a UUID in canonical form"]
    }
    given = str(uuid.uuid4())
    assert _open_account(banking, id=given).id == given
    assert uuid.UUID(_open_account(banking).id)


def test_an_empty_identifier_field_is_refused(banking: types.ModuleType) -> None:
    """An `Identifier` event field (here the holder's `customer_id`) takes no empty string."""
    assert _refused(lambda: banking.Holder(customer_id="", name="Ann")) == {
        "customer_id": ["must be a UUID in canonical form"]
    }
