"""Part of the render stage: long generated lines laid out the way black lays them out.

Templates pass each statement, argument or item that may be long through `fit`,
with the column it starts at. A line that fits in 88 columns is printed as it is.
A longer one is split in one of the shapes black itself uses, so that black leaves
it alone:

- `from m import (` one name a line `)`, with a trailing comma;
- a call of a dotted name, or a `def`: one argument (parameter) a line with a
  magic trailing comma, so black keeps it exploded; a call of a single argument
  puts that argument on its own line, without a comma, as black does;
- a conditional expression (the value of a statement, keyword argument or dict
  item, or one already in parentheses, also after another's `else`) in
  parentheses, on one line if it fits there, else split before `if` and `else`,
  each part laid out in turn.

Anything else (and any line with non-ASCII text, whose width black measures in
its own way) is printed as it is; `format.needs_black` then sees the long line and
the file goes through black. Layout never changes what the code means.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["LINE_LENGTH", "fit"]

LINE_LENGTH = 88
"""black's default line length, which generated code is formatted for."""

_OPENING = "([{"
_CLOSING = ")]}"
_KEYWORD_ARGUMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=(?!=)")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DEF = re.compile(r"def [A-Za-z_][A-Za-z0-9_]*\(")
_IMPORT = re.compile(r"from [A-Za-z0-9_.]+ import ")


def _outside_strings(code: str) -> Iterator[tuple[int, int]]:
    """(index, depth) of every character outside string literals; depth before it."""
    depth = 0
    quote = ""
    escaped = False
    for index, char in enumerate(code):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
            continue
        if char in _CLOSING:
            depth -= 1
        yield index, depth
        if char in _OPENING:
            depth += 1


def _top_level(code: str, word: str) -> list[int]:
    """Where `word` starts at bracket depth 0, outside strings."""
    return [
        index
        for index, depth in _outside_strings(code)
        if depth == 0 and code.startswith(word, index)
    ]


def _split_commas(code: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for index in _top_level(code, ","):
        parts.append(code[start:index].strip())
        start = index + 1
    parts.append(code[start:].strip())
    return [part for part in parts if part]


def _matching_close(code: str, opening: int) -> int | None:
    """The index of the bracket closing the one at `opening`."""
    for index, depth in _outside_strings(code):
        if index > opening and depth == 0 and code[index] in _CLOSING:
            return index
    return None


def _string_end(code: str) -> int | None:
    """The index after the string literal `code` starts with."""
    if not code or code[0] not in "'\"":
        return None
    quote, escaped = code[0], False
    for index in range(1, len(code)):
        char = code[index]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == quote:
            return index + 1
    return None


def _split_value(code: str, item: bool) -> tuple[str, str]:
    """(prefix, value): `key=`, `"key": `, `target = ` or `return ` and what follows."""
    if item:
        match = _KEYWORD_ARGUMENT.match(code)
        if match:
            return code[: match.end()], code[match.end() :]
        end = _string_end(code)
        if end is not None and code.startswith(": ", end):
            return code[: end + 2], code[end + 2 :]
        return "", code
    if code.startswith("return "):
        return "return ", code[len("return ") :]
    equals = _top_level(code, " = ")
    if equals:
        return code[: equals[0] + 3], code[equals[0] + 3 :]
    return "", code


def _ternary(value: str) -> tuple[str, str, str] | None:
    ifs, elses = _top_level(value, " if "), _top_level(value, " else ")
    if len(ifs) != 1 or len(elses) != 1 or not ifs[0] < elses[0]:
        return None
    if "lambda" in value:
        return None
    return value[: ifs[0]], value[ifs[0] + 1 : elses[0]], value[elses[0] + 1 :]


def _parenthesized_ternary(value: str) -> str | None:
    """What is inside the parentheses `value` is in, if it is a conditional expression."""
    if value.startswith("(") and _matching_close(value, 0) == len(value) - 1:
        inside = value[1:-1]
        if _ternary(inside) is not None:
            return inside
    return None


def _is_call(code: str) -> bool:
    """Whether `code` is a call of a dotted name, e.g. `Event(a=a)`."""
    opening = code.find("(")
    return (
        code.endswith(")")
        and opening > 0
        and _DOTTED_NAME.fullmatch(code[:opening]) is not None
        and _matching_close(code, opening) == len(code) - 1
    )


def _fits(indent: int, text: str) -> bool:
    return indent + len(text) <= LINE_LENGTH


def _exploded(head: str, parts: list[str], tail: str, indent: int, *, comma: bool) -> str:
    inner = indent + 4
    pad = " " * inner
    if comma:
        lines = [pad + fit(part, inner, comma=True) for part in parts]
    else:
        lines = [pad + fit(parts[0], inner)]
    return "\n".join([head, *lines, " " * indent + tail])


def fit(code: str, indent: int, *, comma: bool = False) -> str:
    """`code` (one line, starting at column `indent`) laid out to fit, if it can be.

    `comma` marks an item of an exploded call, list or dict: a comma follows it.
    Lines after the first carry their own indentation.
    """
    suffix = "," if comma else ""
    if _fits(indent, code + suffix) or not code.isascii() or "\n" in code:
        return code + suffix
    if not comma and _IMPORT.match(code) and "(" not in code:
        head, names = code.split(" import ", 1)
        return _exploded(f"{head} import (", _split_commas(names), ")", indent, comma=True)
    if not comma and _DEF.match(code):
        opening = code.index("(")
        closing = _matching_close(code, opening)
        if closing is not None and code.endswith(":"):
            parameters = _split_commas(code[opening + 1 : closing])
            if parameters:
                head, tail = code[: opening + 1], code[closing:]
                return _exploded(head, parameters, tail, indent, comma=True)
        return code + suffix
    prefix, value = _split_value(code, comma)
    if not prefix and value.startswith("else (") and _parenthesized_ternary(value[5:]):
        prefix, value = "else ", value[5:]  # the last part of a conditional expression
    value = _parenthesized_ternary(value) or value
    ternary = _ternary(value)
    if ternary is not None:
        inner = " " * (indent + 4)
        if _fits(indent + 4, value):
            body = inner + value
        else:
            body = "\n".join(inner + fit(part, indent + 4) for part in ternary)
        return f"{prefix}(\n{body}\n{' ' * indent}){suffix}"
    if _is_call(value):
        opening = value.find("(")
        arguments = _split_commas(value[opening + 1 : -1])
        if arguments:
            head = prefix + value[: opening + 1]
            lone_call = len(arguments) == 1 and _is_call(arguments[0])
            return _exploded(head, arguments, ")" + suffix, indent, comma=not lone_call)
    return code + suffix
