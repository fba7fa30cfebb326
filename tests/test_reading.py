"""The `read_*` functions generated `from_data` uses: types are checked, rules are not."""

from __future__ import annotations

import datetime
import decimal
import enum
import re
from collections.abc import Callable
from typing import Any

import pytest

from aggregen.runtime import validation as v


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    ("read", "value", "expected"),
    [
        (v.read_str, "", ""),
        (v.read_int, v.INTEGER_MAX, v.INTEGER_MAX),
        (v.read_int, v.INTEGER_MIN, v.INTEGER_MIN),
        (v.read_float, 2, 2.0),
        (v.read_float, 0.5, 0.5),
        (v.read_bool, False, False),
        (v.read_decimal, "1.50", decimal.Decimal("1.50")),
        (v.read_decimal, 3, decimal.Decimal(3)),
        (v.read_date, "2024-02-29", datetime.date(2024, 2, 29)),
        (
            v.read_datetime,
            "2024-02-29T10:00:00+00:00",
            datetime.datetime(2024, 2, 29, 10, tzinfo=datetime.UTC),
        ),
    ],
)
def test_a_value_of_its_type_is_read(
    read: Callable[[object, str], Any], value: object, expected: object
) -> None:
    got = read(value, "field")
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("read", "value", "error", "message"),
    [
        (v.read_str, 1, TypeError, "x must be a str, not int"),
        (v.read_int, True, TypeError, "x must be an int, not bool"),
        (v.read_int, 1.0, TypeError, "x must be an int, not float"),
        (v.read_int, v.INTEGER_MAX + 1, TypeError, "x must fit in 64 bits"),
        (v.read_float, True, TypeError, "x must be a float, not bool"),
        (v.read_float, "1.5", TypeError, "x must be a float, not str"),
        (v.read_bool, 1, TypeError, "x must be a bool, not int"),
        (v.read_decimal, 1.5, TypeError, "x must be a decimal string, not float"),
        (v.read_decimal, "NaN", ValueError, "x must be a finite decimal number"),
        (v.read_decimal, "Infinity", ValueError, "x must be a finite decimal number"),
        (v.read_decimal, "one", ValueError, "x must be a decimal number, not 'one'"),
        (v.read_date, 20240229, TypeError, "x must be an ISO 8601 date string, not int"),
        (v.read_date, "29.02.2024", ValueError, "x must be an ISO 8601 date, not '29.02.2024'"),
        (v.read_datetime, "soon", ValueError, "x must be an ISO 8601 date-time, not 'soon'"),
    ],
)
def test_a_value_of_another_type_is_refused_naming_the_field(
    read: Callable[[object, str], Any], value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        read(value, "x")


def test_choices_and_enums_are_types_read_by_value() -> None:
    assert v.read_choice("low", "level", ("low", "high")) == "low"
    with pytest.raises(ValueError, match=re.escape("level must be one of ['low', 'high']")):
        v.read_choice("mid", "level", ("low", "high"))
    with pytest.raises(TypeError, match="level must be a str, not int"):
        v.read_choice(1, "level", ("low", "high"))
    assert v.read_enum("red", "colour", Colour) is Colour.RED
    with pytest.raises(ValueError, match="colour must be a value of Colour, not 'blue'"):
        v.read_enum("blue", "colour", Colour)


def test_lists_read_every_item_and_name_the_bad_one() -> None:
    assert v.read_list([[1, 2], []], "grid", v.read_list, v.read_int) == [[1, 2], []]
    with pytest.raises(TypeError, match=re.escape("grid[][] must be an int, not str")):
        v.read_list([[1, "2"]], "grid", v.read_list, v.read_int)
    with pytest.raises(TypeError, match="grid must be a list, not tuple"):
        v.read_list((1,), "grid", v.read_int)
    with pytest.raises(TypeError, match=re.escape("tags[] must be a str, not NoneType")):
        v.read_list(["a", None], "tags", v.read_str)


def test_event_lists_read_as_tuples_at_every_depth() -> None:
    grid = v.read_tuple([[1, 2], []], "grid", v.read_tuple, v.read_int)
    assert grid == ((1, 2), ())
    assert type(grid) is tuple
    assert type(grid[0]) is tuple
    with pytest.raises(TypeError, match=re.escape("grid[][] must be an int, not str")):
        v.read_tuple([[1, "2"]], "grid", v.read_tuple, v.read_int)
    with pytest.raises(TypeError, match="grid must be a list, not dict"):
        v.read_tuple({}, "grid", v.read_int)


def test_value_objects_prefix_their_errors_with_the_field() -> None:
    def from_data(data: dict[str, Any]) -> str:
        return v.read_str(data["street"], "street")

    assert v.read_object({"street": "Main"}, "home", from_data) == "Main"
    with pytest.raises(TypeError, match=re.escape("home.street must be a str, not int")):
        v.read_object({"street": 1}, "home", from_data)
    with pytest.raises(ValueError, match="home lacks its field 'street'"):
        v.read_object({}, "home", from_data)
    with pytest.raises(TypeError, match="home must be an object, not list"):
        v.read_object([], "home", from_data)


def test_reading_checks_no_rules() -> None:
    """A rule (length, bounds, pattern, canonical UUID) is checked when a value is made."""
    assert v.read_str("x" * 10_000, "name") == "x" * 10_000
    assert v.read_str("NOT-A-UUID", "id") == "NOT-A-UUID"
    assert v.read_int(-5, "count") == -5
