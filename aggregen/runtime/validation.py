"""Field rules that generated classes check in `__post_init__`, and the type checks of reads.

Generated code builds one rule per field and calls `check` for each field, then
`raise_errors`, so that a `ValidationError` lists every failing field at once:

    errors: dict[str, list[str]] = {}
    check(errors, "email", self.email, TextRule(max_length=254))
    check(errors, "nickname", self.nickname, TextRule(), nullable=True)
    raise_errors(errors, subject="Registered")

Rules run when a value is made, not when it is read back: a stored event is a fact,
and a rule tightened later must not make it unreadable. Reading (`from_data`, and
restoring a snapshot) checks types only, with the `read_*` functions below, each of
which returns the value in its Python form or raises `TypeError` or `ValueError`
naming the field:

    first_name = read_str(data["first_name"], "first_name")
    tags = read_tuple(data["tags"], "tags", read_str)
    home = read_object(data["home"], "home", Address.from_data)
"""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Protocol, TypeVar

from .errors import ValidationError
from .record import FrozenRecord
from .record import set_field as _set

__all__ = [
    "INTEGER_MAX",
    "INTEGER_MIN",
    "BooleanRule",
    "ChoiceRule",
    "DateRule",
    "DateTimeRule",
    "DecimalRule",
    "Errors",
    "FloatRule",
    "IdentifierRule",
    "InstanceRule",
    "IntegerRule",
    "ListRule",
    "Rule",
    "TextRule",
    "as_float",
    "check",
    "check_value",
    "decimal_from_data",
    "frozen",
    "raise_errors",
    "read_bool",
    "read_choice",
    "read_date",
    "read_datetime",
    "read_decimal",
    "read_enum",
    "read_float",
    "read_int",
    "read_list",
    "read_object",
    "read_str",
    "read_tuple",
]

Errors = dict[str, list[str]]

INTEGER_MIN = -(2**63)
INTEGER_MAX = 2**63 - 1
"""The range of an Integer field: a signed 64-bit integer, what the store can encode."""


class Rule(Protocol):
    """A check of one non-None value: adds messages under `name` to `errors`."""

    def check(self, errors: Errors, name: str, value: object) -> None: ...


def _add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _wrong_type(errors: Errors, name: str, expected: str, value: object) -> None:
    _add(errors, name, f"must be {expected}, not {type(value).__name__}")


def _characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


def _unstorable_text(value: str) -> str | None:
    """Why `value` cannot be stored the same way by every store, or None when it can.

    PostgreSQL's JSON refuses the NUL character and UTF-8 has no lone surrogates:
    refusing both when a value is made keeps the in-memory store and MessageDB in
    agreement.
    """
    if "\x00" in value:
        return "must not contain the NUL character (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (U+D800 to U+DFFF)"
    return None


def _check_bounds(
    errors: Errors, name: str, value: float | decimal.Decimal, low: object, high: object
) -> None:
    if low is not None and value < low:  # type: ignore[operator]
        _add(errors, name, f"must be at least {low}")
    if high is not None and value > high:  # type: ignore[operator]
        _add(errors, name, f"must be at most {high}")


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class TextRule(FrozenRecord):
    """A `str` that every store can hold (no NUL, no lone surrogate), with optional length
    bounds and a pattern the whole value must match."""

    __match_args__ = ("min_length", "max_length", "pattern")
    __slots__ = __match_args__
    min_length: int | None
    max_length: int | None
    pattern: str | None

    def __init__(
        self,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        _set(self, "min_length", min_length)
        _set(self, "max_length", max_length)
        _set(self, "pattern", pattern)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, str):
            _wrong_type(errors, name, "a str", value)
            return
        if "\x00" in value or not value.isascii():
            unstorable = _unstorable_text(value)
            if unstorable is not None:
                _add(errors, name, unstorable)
                return
        if self.min_length is not None and len(value) < self.min_length:
            _add(errors, name, f"must be at least {_characters(self.min_length)} long")
        if self.max_length is not None and len(value) > self.max_length:
            _add(errors, name, f"must be at most {_characters(self.max_length)} long")
        if self.pattern is not None and _compiled(self.pattern).fullmatch(value) is None:
            _add(errors, name, f"must match the pattern {self.pattern!r}")


class IntegerRule(FrozenRecord):
    """An `int` (not a `bool`) that fits in 64 bits (signed), with optional inclusive bounds."""

    __match_args__ = ("min", "max")
    __slots__ = __match_args__
    min: int | None
    max: int | None

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        _set(self, "min", min)
        _set(self, "max", max)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _wrong_type(errors, name, "an int", value)
            return
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            _add(errors, name, f"must fit in 64 bits (from {INTEGER_MIN} to {INTEGER_MAX})")
            return
        _check_bounds(errors, name, value, self.min, self.max)


class FloatRule(FrozenRecord):
    """A finite `float`, with optional inclusive bounds.

    NaN, inf and -inf are refused: JSON cannot hold them. An `int` that fits a float
    passes; generated classes turn it into the `float` they hold (`as_float`) before
    their rules run.
    """

    __match_args__ = ("min", "max")
    __slots__ = __match_args__
    min: float | None
    max: float | None

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        _set(self, "min", min)
        _set(self, "max", max)

    def check(self, errors: Errors, name: str, value: object) -> None:
        number: float
        if isinstance(value, float):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            if not _FLOAT_MIN <= value <= _FLOAT_MAX:
                _add(errors, name, "must fit in a float")
                return
            number = value
        else:
            _wrong_type(errors, name, "a float", value)
            return
        if not _isfinite(number):
            _add(errors, name, f"must be a finite number, not {number!r}")
            return
        _check_bounds(errors, name, number, self.min, self.max)


_isfinite = math.isfinite
_FLOAT_MAX = int(sys.float_info.max)
_FLOAT_MIN = -_FLOAT_MAX


class DecimalRule(FrozenRecord):
    """A finite `decimal.Decimal`, with optional inclusive bounds."""

    __match_args__ = ("min", "max")
    __slots__ = __match_args__
    min: decimal.Decimal | None
    max: decimal.Decimal | None

    def __init__(
        self, min: decimal.Decimal | None = None, max: decimal.Decimal | None = None
    ) -> None:
        _set(self, "min", min)
        _set(self, "max", max)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, decimal.Decimal):
            _wrong_type(errors, name, "a decimal.Decimal", value)
            return
        if not value.is_finite():
            _add(errors, name, "must be a finite number")
            return
        _check_bounds(errors, name, value, self.min, self.max)


class BooleanRule(FrozenRecord):
    """A `bool`."""

    __slots__ = ()

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, bool):
            _wrong_type(errors, name, "a bool", value)


class DateRule(FrozenRecord):
    """A `datetime.date` that is not a `datetime.datetime`."""

    __slots__ = ()

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            _wrong_type(errors, name, "a datetime.date", value)


_UTC = datetime.UTC


class DateTimeRule(FrozenRecord):
    """A timezone-aware `datetime.datetime`: a naive one names no instant, so it is refused.

    So is a UTC offset with a fraction of a second, which ISO 8601 text cannot keep.
    """

    __slots__ = ()

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, datetime.datetime):
            _wrong_type(errors, name, "a datetime.datetime", value)
        elif value.tzinfo is not _UTC:
            offset = value.utcoffset()
            if offset is None:
                _add(
                    errors,
                    name,
                    "must be timezone-aware (a naive datetime names no instant; "
                    "pass tzinfo, e.g. datetime.UTC)",
                )
            elif offset.microseconds:
                _add(errors, name, f"must have a UTC offset of whole seconds, not {offset}")


class IdentifierRule(FrozenRecord):
    """A UUID in canonical form (lower-case, hyphenated), as a `str`."""

    __slots__ = ()

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, str):
            _wrong_type(errors, name, "a str", value)
            return
        try:
            canonical: str | None = str(uuid.UUID(value))
        except ValueError:
            canonical = None  # not "": the empty string is no UUID either
        if canonical != value:
            _add(errors, name, "must be a UUID in canonical form")


class ChoiceRule(FrozenRecord):
    """One of a fixed set of strings (an inline enum, typed `Literal[...]`)."""

    __match_args__ = ("values",)
    __slots__ = __match_args__
    values: tuple[str, ...]

    def __init__(self, values: tuple[str, ...]) -> None:
        _set(self, "values", values)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, str):
            _wrong_type(errors, name, "a str", value)
        elif value not in self.values:
            _add(errors, name, f"must be one of {list(self.values)!r}")


class InstanceRule(FrozenRecord):
    """An instance of a class: a value object or a named enum (checked when built)."""

    __match_args__ = ("cls",)
    __slots__ = __match_args__
    cls: type

    def __init__(self, cls: type) -> None:
        _set(self, "cls", cls)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, self.cls):
            _wrong_type(errors, name, f"a {self.cls.__name__}", value)


class ListRule(FrozenRecord):
    """A list field's value: a `tuple` (see `frozen`) whose items each pass `item`.

    Failing items are named `name[index]`. A `list` is refused: events and value
    objects hold immutable copies, which their classes make with `frozen`.
    """

    __match_args__ = ("item",)
    __slots__ = __match_args__
    item: Rule

    def __init__(self, item: Rule) -> None:
        _set(self, "item", item)

    def check(self, errors: Errors, name: str, value: object) -> None:
        if not isinstance(value, tuple):
            expected = "a tuple (an immutable copy)" if isinstance(value, list) else "a list"
            _wrong_type(errors, name, expected, value)
            return
        for index, item in enumerate(value):
            if item is None:
                _add(errors, f"{name}[{index}]", "is required")
            else:
                self.item.check(errors, f"{name}[{index}]", item)


def as_float(value: Any) -> Any:
    """`value` as the `float` it equals when it is an `int` (not a `bool`) that fits one.

    Any other value is returned as it is, for the field's rule to judge. Generated
    classes call it for Float fields, so that an event holds, stores and reads back a
    `float` whatever number it was given.
    """
    if type(value) is int and _FLOAT_MIN <= value <= _FLOAT_MAX:
        return float(value)
    return value


def frozen(value: Any, leaf: Callable[[Any], Any] | None = None) -> Any:
    """An immutable copy of a list field's value: a tuple, with every list in it a tuple.

    A list or tuple becomes a tuple, at every depth; `leaf` (such as `as_float`), when
    given, is applied to every item that is not a list or tuple. Any other value is
    returned as it is, for the field's rule to refuse. Generated events and value
    objects call it when they are made, so that they never share a list with the caller.
    """
    if not isinstance(value, _SEQUENCES):
        return value
    if leaf is not None:
        return tuple([frozen(i, leaf) if isinstance(i, _SEQUENCES) else leaf(i) for i in value])
    copy = tuple(value)
    for item in copy:
        if isinstance(item, _SEQUENCES):
            return tuple([frozen(i) for i in copy])
    return copy


_SEQUENCES = (list, tuple)


def check(errors: Errors, name: str, value: object, rule: Rule, *, nullable: bool = False) -> None:
    """Check `value` of the field `name` against `rule`; None passes only when `nullable`."""
    if value is None:
        if not nullable:
            _add(errors, name, "is required")
        return
    rule.check(errors, name, value)


def raise_errors(errors: Mapping[str, Sequence[str]], *, subject: str) -> None:
    """Raise `ValidationError` listing every failing field, if any field failed."""
    if errors:
        raise ValidationError(errors, subject=subject)


def decimal_from_data(data: object) -> decimal.Decimal:
    """A `Decimal` from its stored form (a string, or an int); raises `TypeError`/`ValueError`."""
    if isinstance(data, bool) or not isinstance(data, str | int):
        raise TypeError(f"expected a decimal string, got {type(data).__name__}")
    try:
        return decimal.Decimal(data)
    except decimal.InvalidOperation:
        raise ValueError(f"{data!r} is not a decimal number") from None


def check_value(
    name: str, value: object, rule: Rule, *, nullable: bool = False, subject: str
) -> None:
    """Check one value (such as an aggregate's identifier) and raise `ValidationError` at once."""
    errors: Errors = {}
    check(errors, name, value, rule, nullable=nullable)
    raise_errors(errors, subject=subject)


# Reading stored data: types, not rules.

_E = TypeVar("_E", bound=enum.Enum)
_T = TypeVar("_T")


def _not_a(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def read_str(value: object, name: str) -> str:
    """`value` if it is a `str`; raises `TypeError` naming the field `name`."""
    if isinstance(value, str):
        return value
    raise _not_a(name, "a str", value)


def read_int(value: object, name: str) -> int:
    """`value` if it is an `int` (not a `bool`) within 64 bits; raises `TypeError`."""
    if isinstance(value, int) and not isinstance(value, bool):
        if INTEGER_MIN <= value <= INTEGER_MAX:
            return value
        raise TypeError(f"{name} must fit in 64 bits, not {value}")
    raise _not_a(name, "an int", value)


def read_float(value: object, name: str) -> float:
    """`value` as a `float` (an `int` is widened, a `bool` refused); raises `TypeError`."""
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise _not_a(name, "a float", value)


def read_bool(value: object, name: str) -> bool:
    """`value` if it is a `bool`; raises `TypeError`."""
    if isinstance(value, bool):
        return value
    raise _not_a(name, "a bool", value)


def read_choice(value: object, name: str, values: tuple[str, ...]) -> Any:
    """`value` if it is one of `values` (an inline enum's `Literal` type); raises `ValueError`.

    Typed `Any` because the caller's `Literal[...]` type is what `values` spell.
    """
    if isinstance(value, str) and value in values:
        return value
    if not isinstance(value, str):
        raise _not_a(name, "a str", value)
    raise ValueError(f"{name} must be one of {list(values)!r}, not {value!r}")


def read_decimal(value: object, name: str) -> decimal.Decimal:
    """A finite `Decimal` from its stored string (or int); raises `TypeError`/`ValueError`."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _not_a(name, "a decimal string", value)
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"{name} must be a decimal number, not {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite decimal number, not {value!r}")
    return number


def read_date(value: object, name: str) -> datetime.date:
    """A `date` from its ISO 8601 string; raises `TypeError`/`ValueError`."""
    if not isinstance(value, str):
        raise _not_a(name, "an ISO 8601 date string", value)
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date, not {value!r}") from None


def read_datetime(value: object, name: str) -> datetime.datetime:
    """A `datetime` from its ISO 8601 string; raises `TypeError`/`ValueError`."""
    if not isinstance(value, str):
        raise _not_a(name, "an ISO 8601 date-time string", value)
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date-time, not {value!r}") from None


def read_enum(value: object, name: str, cls: type[_E]) -> _E:
    """The member of the enum `cls` whose value is `value`; raises `ValueError`."""
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{name} must be a value of {cls.__name__}, not {value!r}") from None


def read_list(
    value: object, name: str, read_item: Callable[..., _T], *item_args: object
) -> list[_T]:
    """A `list` whose items are each read with `read_item(item, name + "[]", *item_args)`.

    Raises `TypeError` or `ValueError`, from the list or from the first bad item.
    """
    if not isinstance(value, list):
        raise _not_a(name, "a list", value)
    item_name = name + "[]"
    return [read_item(item, item_name, *item_args) for item in value]


def read_tuple(
    value: object, name: str, read_item: Callable[..., _T], *item_args: object
) -> tuple[_T, ...]:
    """What `read_list` reads, as a `tuple`: a list field of an event or a value object."""
    if not isinstance(value, list):
        raise _not_a(name, "a list", value)
    item_name = name + "[]"
    return tuple([read_item(item, item_name, *item_args) for item in value])


def read_object(value: object, name: str, from_data: Callable[[dict[str, Any]], _T]) -> _T:
    """A value object built by `from_data` (its class's) from a `dict`; raises `TypeError`.

    Errors from inside the value are prefixed with the field's name.
    """
    if not isinstance(value, dict):
        raise _not_a(name, "an object", value)
    try:
        return from_data(value)
    except KeyError as error:
        raise ValueError(f"{name} lacks its field {error}") from None
    except TypeError as error:
        raise TypeError(f"{name}.{error}") from None
    except ValueError as error:
        raise ValueError(f"{name}.{error}") from None
