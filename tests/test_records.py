"""The runtime's records behave as the dataclasses and named tuples they replace.

`aggregen.runtime.record` writes out plainly what `@dataclass(frozen=True, slots=True)`
and `typing.NamedTuple` build at import (see benchmarks/suite_import.py). Each public
record is compared here with a reference declared the old way, field for field:
construction, equality, hash, repr, immutability, pickling, copying, pattern matching
and the named tuple methods.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import inspect
import pickle
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregen.runtime import (
    Cause,
    ConsumerGroup,
    Metadata,
    NewMessage,
    RecordedMessage,
    StreamNameError,
    StreamWrite,
)
from aggregen.runtime import validation as v
from aggregen.runtime.record import FrozenRecord, TupleRecord
from aggregen.runtime.stream_name import validate_category

NOW = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)


# -- named tuples ----------------------------------------------------------------------


class RefNewMessage(NamedTuple):
    id: str
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None


class RefRecordedMessage(NamedTuple):
    id: str
    stream_name: str
    type: str
    position: int
    global_position: int
    data: dict[str, Any]
    metadata: dict[str, Any] | None
    time: datetime.datetime


class RefCause(NamedTuple):
    message_id: str | None = None
    stream_name: str | None = None
    position: int | None = None
    global_position: int | None = None
    correlation_id: str | None = None
    correlation_stream_name: str | None = None


class RefMetadata(NamedTuple):
    id: str
    time: datetime.datetime | None = None
    stream_name: str | None = None
    position: int | None = None
    global_position: int | None = None
    schema_version: int = 1
    correlation_id: str | None = None
    causation_id: str | None = None
    causation_stream_name: str | None = None
    causation_position: int | None = None
    causation_global_position: int | None = None
    correlation_stream_name: str | None = None


def hash_of(value: object) -> int | type[TypeError]:
    """The hash of `value`, or TypeError when it has none (it holds a dict)."""
    try:
        return hash(value)
    except TypeError:
        return TypeError


TUPLES: list[tuple[type[TupleRecord], Any, tuple[Any, ...]]] = [
    (NewMessage, RefNewMessage, ("m1", "Registered", {"a": 1}, None)),
    (
        RecordedMessage,
        RefRecordedMessage,
        ("m1", "user-1", "Registered", 0, 7, {"a": 1}, {"schemaVersion": 1}, NOW),
    ),
    (Cause, RefCause, ("m1", "user-1", 0, 7, "c1", "user-1")),
    (Metadata, RefMetadata, ("m1", NOW, "user-1", 0, 7, 2, "c", "d", "s-1", 3, 9, "s-2")),
]


@pytest.mark.parametrize(("cls", "ref", "values"), TUPLES, ids=lambda x: getattr(x, "__name__", ""))
def test_a_tuple_record_is_the_named_tuple_it_replaces(
    cls: type[TupleRecord], ref: Any, values: tuple[Any, ...]
) -> None:
    assert cls._fields == ref._fields == cls.__match_args__ == ref.__match_args__
    assert cls._field_defaults == ref._field_defaults
    assert list(inspect.signature(cls).parameters) == list(ref._fields)
    assert [p.default for p in inspect.signature(cls).parameters.values()] == [
        p.default for p in inspect.signature(ref).parameters.values()
    ]
    record, expected = cls(*values), ref(*values)
    assert record == expected == values
    assert isinstance(record, tuple)
    assert hash_of(record) == hash_of(expected)
    assert cls(**expected._asdict()) == record
    assert [getattr(record, name) for name in cls._fields] == list(values)
    assert repr(record) == repr(expected).replace("Ref", "", 1)
    assert record._asdict() == expected._asdict()
    changed = {cls._fields[-1]: "changed"}
    assert record._replace(**changed) == expected._replace(**changed)
    assert type(record._replace(**changed)) is cls
    assert record.__replace__(**changed) == expected._replace(**changed)
    assert cls._make(values) == record
    assert type(cls._make(values)) is cls
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(record, protocol))
        assert again == record
        assert type(again) is cls
    assert copy.copy(record) == record == copy.deepcopy(record)
    with pytest.raises(AttributeError):
        setattr(record, cls._fields[0], "x")
    with pytest.raises(AttributeError):
        record.__dict__  # noqa: B018
    with pytest.raises(TypeError):
        cls._make(values[:-1])
    with pytest.raises(ValueError, match="unexpected field names"):
        record._replace(nope=1)
    with pytest.raises(TypeError):
        cls(*values, "one too many")  # type: ignore[call-arg]


def test_a_tuple_record_matches_patterns_by_position_and_name() -> None:
    match Metadata("m1", NOW, position=3):
        case Metadata(message_id, time, position=position):
            assert (message_id, time, position) == ("m1", NOW, 3)
        case _:
            pytest.fail("no match")


# -- frozen dataclasses ----------------------------------------------------------------


def reference_dataclass(cls: type[FrozenRecord], defaults: dict[str, Any]) -> Any:
    """A frozen slotted dataclass with `cls`'s name, fields and `defaults`."""
    fields = [
        (name, Any, dataclasses.field(default=defaults[name])) if name in defaults else (name, Any)
        for name in cls.__match_args__
    ]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


FROZEN: list[tuple[type[FrozenRecord], dict[str, Any], tuple[Any, ...], tuple[Any, ...]]] = [
    (v.TextRule, dict.fromkeys(("min_length", "max_length", "pattern")), (1, 5, "a+"), (1, 5)),
    (v.IntegerRule, dict.fromkeys(("min", "max")), (0, 10), (0,)),
    (v.FloatRule, dict.fromkeys(("min", "max")), (0.5, 1.5), (None, 2.0)),
    (v.DecimalRule, dict.fromkeys(("min", "max")), (decimal.Decimal("0.1"), None), ()),
    (v.BooleanRule, {}, (), ()),
    (v.DateRule, {}, (), ()),
    (v.DateTimeRule, {}, (), ()),
    (v.IdentifierRule, {}, (), ()),
    (v.ChoiceRule, {}, (("red", "blue"),), (("red",),)),
    (v.InstanceRule, {}, (datetime.date,), (datetime.time,)),
    (v.ListRule, {}, (v.TextRule(max_length=3),), (v.IntegerRule(),)),
    (StreamWrite, {}, ("user-1", 3, (RefNewMessage("m", "T", {}, None),)), ("user-1", None, ())),
    (ConsumerGroup, {}, (1, 4), (0, 4)),
]


@pytest.mark.parametrize(
    ("cls", "defaults", "values", "other"), FROZEN, ids=lambda x: getattr(x, "__name__", "")
)
def test_a_frozen_record_is_the_frozen_slotted_dataclass_it_replaces(
    cls: type[FrozenRecord], defaults: dict[str, Any], values: tuple[Any, ...], other: Any
) -> None:
    ref = reference_dataclass(cls, defaults)
    assert cls.__match_args__ == ref.__match_args__
    assert list(inspect.signature(cls).parameters) == list(cls.__match_args__)
    assert {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if p.default is not p.empty
    } == defaults
    record, expected = cls(*values), ref(*values)
    assert repr(record) == repr(expected)
    assert record == cls(*values)
    assert hash_of(record) == hash_of(expected)
    assert cls(**dict(zip(cls.__match_args__, values, strict=True))) == record
    assert record != cls(*other) or values == other
    assert record != expected  # another class, as for two dataclasses
    assert not hasattr(record, "__dict__")
    for name in cls.__match_args__:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(record, name)
    if cls.__match_args__:
        first = cls.__match_args__[0]
        replaced = record.__replace__(**{first: other[0] if other else None})
        assert repr(replaced) == repr(
            dataclasses.replace(expected, **{first: getattr(replaced, first)})
        )
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(record, protocol)) == record
    assert copy.copy(record) == record == copy.deepcopy(record)


def test_a_frozen_record_matches_patterns_by_position() -> None:
    match StreamWrite("user-1", 3, ()):
        case StreamWrite(stream, expected):
            assert (stream, expected) == ("user-1", 3)
        case _:
            pytest.fail("no match")


def test_an_unhashable_field_makes_an_unhashable_record_as_in_a_dataclass() -> None:
    messages: Sequence[NewMessage] = []
    with pytest.raises(TypeError):
        hash(StreamWrite("user-1", None, messages))


# -- categories, checked without a pattern -----------------------------------------------

CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@given(st.text() | st.from_regex(r"[A-Za-z_0-9:+\-\s]{0,6}", fullmatch=True))
def test_a_category_is_valid_exactly_when_the_old_pattern_matched(category: str) -> None:
    if CATEGORY.match(category):
        assert validate_category(category) == category
    else:
        with pytest.raises(StreamNameError):
            validate_category(category)


@pytest.mark.parametrize(
    "bad", ["", "_a", "1a", "a-b", "a:b", "a+b", "é", "aé", "a\n", "a b", "\uff21"]
)
def test_unusable_categories_are_refused(bad: str) -> None:
    with pytest.raises(StreamNameError):
        validate_category(bad)
