"""Whether a value fits a built-in field type and its options: defaults, bounds, patterns.

Plain functions returning why a value does not fit (None when it does), used by the
field rules (`check_fields`).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import uuid
from collections.abc import Mapping
from typing import Any

from aggregen.runtime.validation import INTEGER_MAX, INTEGER_MIN

from .load import describe_value

__all__ = [
    "NUMBERS",
    "STRINGS",
    "compile_pattern",
    "integer_range_problem",
    "regex_error",
    "scalar_problem",
]

STRINGS = ("String", "Text")
NUMBERS = ("Integer", "Float", "Decimal")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def regex_error(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        return str(exc)
    except (RecursionError, OverflowError, ValueError) as exc:
        return type(exc).__name__
    return "unknown problem"


def scalar_problem(value: Any, type_name: str, spec: Mapping[str, Any]) -> str | None:
    """Why `value` cannot be a default of a built-in scalar type; None when it can."""
    if value is None:
        return "cannot be null (leave the field optional instead)"
    if type_name in STRINGS:
        return _string_problem(value, spec)
    if type_name in NUMBERS:
        return _number_problem(value, type_name, spec)
    if type_name == "Boolean" and not isinstance(value, bool):
        return f"must be true or false, not {describe_value(value)}"
    if type_name in ("Date", "DateTime"):
        parse = (
            datetime.date.fromisoformat if type_name == "Date" else datetime.datetime.fromisoformat
        )
        kind = "date (YYYY-MM-DD)" if type_name == "Date" else "date and time"
        if not isinstance(value, str):
            return f"must be an ISO 8601 {kind} string, not {describe_value(value)}"
        try:
            parse(value)
        except ValueError:
            return f"{value!r} is not an ISO 8601 {kind}"
    if type_name == "Identifier" and not (isinstance(value, str) and _is_canonical_uuid(value)):
        return f"must be a UUID in canonical form, not {describe_value(value)}"
    if type_name == "Enum":
        values = spec.get("values") or []
        if value not in values:
            return f"{value!r} is not one of the values {', '.join(map(repr, values))}"
    return None


def _string_problem(value: Any, spec: Mapping[str, Any]) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {describe_value(value)}"
    low, high = spec.get("min_length"), spec.get("max_length")
    if low is not None and len(value) < low:
        return f"{value!r} is shorter than 'min_length' ({low})"
    if high is not None and len(value) > high:
        return f"{value!r} is longer than 'max_length' ({high})"
    pattern = spec.get("pattern")
    compiled = compile_pattern(pattern) if isinstance(pattern, str) else None
    if compiled is not None and compiled.fullmatch(value) is None:
        return f"{value!r} does not match 'pattern'"
    return None


def _number_problem(value: Any, type_name: str, spec: Mapping[str, Any]) -> str | None:
    if isinstance(value, bool):
        number: decimal.Decimal | None = None
    elif type_name == "Integer":
        number = decimal.Decimal(value) if isinstance(value, int) else None
    elif type_name == "Float":
        number = decimal.Decimal(repr(value)) if isinstance(value, int | float) else None
    elif isinstance(value, float):
        return (
            f"of a Decimal field must be a string or an integer "
            f"(write '{value!r}' to keep it exact)"
        )
    else:
        number = _parse_decimal(value)
    if number is None:
        wanted = {"Integer": "an integer", "Float": "a number"}.get(type_name, "a decimal number")
        return f"must be {wanted}, not {describe_value(value)}"
    if type_name == "Integer":
        problem = integer_range_problem(value)
        if problem is not None:
            return problem
    low, high = spec.get("min"), spec.get("max")
    if low is not None and number < decimal.Decimal(repr(low)):
        return f"{value!r} is less than 'min' ({low})"
    if high is not None and number > decimal.Decimal(repr(high)):
        return f"{value!r} is greater than 'max' ({high})"
    return None


def integer_range_problem(value: int) -> str | None:
    """Why an Integer option or default does not fit the runtime's 64-bit integers."""
    if INTEGER_MIN <= value <= INTEGER_MAX:
        return None
    shown = str(value) if abs(value) < 10**30 else "a number that large"
    return f"{shown} does not fit in 64 bits (from {INTEGER_MIN} to {INTEGER_MAX})"


def _parse_decimal(value: Any) -> decimal.Decimal | None:
    if isinstance(value, int):
        return decimal.Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        number = decimal.Decimal(value.strip())
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
