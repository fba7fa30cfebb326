"""Black on single statements: the format stage's way to skip formatting a whole file.

Black splits a statement that is too long by looking at that statement and its
indentation only; the lines around it, already black's, stay as they are. So when
the only lines black would change are too-wide code lines, `format_statements`
hands black each statement holding one, nested in `if _:` blocks to its depth, and
puts the result back in place. Formatting a statement costs black a few
milliseconds; a whole generated module, a few hundred.

It answers `None` for whatever it cannot vouch for (a decorator, an `else:`, a bare
string that may be a docstring, a line in no statement, a statement black does not
give back in the expected frame): the caller then formats the whole file. The
tests compare both ways on many generated schemas (tests/generator/test_black_stable.py).
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable, Sequence

__all__ = ["format_statements", "statement_spans"]

INDENT = "    "

_HEADERS = frozenset({"def", "class", "async", "if", "for", "while", "with"})
"""Compound statements whose header can be formatted before a body of `pass`."""

_STRINGS = frozenset({tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)})
"""Tokens that open a string (Python 3.12 tokenizes f-strings in pieces)."""
_TRIPLES = frozenset({'"""', "'''"})

_SKIPPED = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
)


def statement_spans(source: str) -> list[tuple[int, int]] | None:
    """The logical lines of `source`: (first, last + 1) line numbers from 0, in order.

    None for source Python cannot tokenize, and when a triple-quoted string is part
    of a larger statement: `flagged_lines` (format.py) reads every other triple
    quote as a docstring's, so its reading holds only without them.
    """
    try:
        return _spans(source)
    except (tokenize.TokenError, SyntaxError):
        return None


def _spans(source: str) -> list[tuple[int, int]] | None:
    spans: list[tuple[int, int]] = []
    start: int | None = None
    tokens = 0
    triple_quoted = False
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _SKIPPED:
            continue
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if triple_quoted and tokens > 1:
                return None
            if start is not None:
                spans.append((start, token.end[0]))
            start, tokens, triple_quoted = None, 0, False
            continue
        if start is None:
            start = token.start[0] - 1
        tokens += 1
        if token.type in _STRINGS and token.string.lstrip("bBfFrRuUtT")[:3] in _TRIPLES:
            triple_quoted = True
    return spans


def _body_after(statement: str) -> str | None:
    """What must follow `statement` (its own lines, dedented) for black to read it
    alone: "" or the `pass` body of a compound statement's header; None if nothing can.
    """
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(statement).readline)
            if t.type not in _SKIPPED and t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    first, last = tokens[0], tokens[-1]
    if first.type == tokenize.STRING or first.string == "@":
        return None  # a docstring or a decorator: black reads them with their neighbours
    if last.type == tokenize.OP and last.string == ":":
        return INDENT + "pass\n" if first.string in _HEADERS else None
    return ""


def _format_statement(lines: Sequence[str], black: Callable[[str], str]) -> str | None:
    """The statement of `lines` as black lays it out at its indentation, or None."""
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    if indent % len(INDENT):
        return None
    depth = indent // len(INDENT)
    statement = "".join(line[indent:] if line.startswith(" " * indent) else line for line in lines)
    body = _body_after(statement)
    if body is None:
        return None
    wrapper = "".join(INDENT * level + "if _:\n" for level in range(depth))
    tail = INDENT * depth + body if body else ""
    source = wrapper + "".join(lines) + tail
    try:
        formatted = black(source)
    except Exception:  # black raises several unrelated exception types
        return None
    if not formatted.startswith(wrapper) or not formatted.endswith(tail):
        return None
    # Black puts blank lines before a `def` or `class` here; the file has its own.
    result = formatted[len(wrapper) : len(formatted) - len(tail)].lstrip("\n")
    return result if result.startswith(lines[0][:indent]) and result.strip() else None


def format_statements(
    source: str, flagged: Sequence[int], black: Callable[[str], str]
) -> str | None:
    """`source` with each statement that holds a `flagged` line (numbers from 0)
    formatted by `black` alone; None when that cannot be vouched for (see module doc).
    """
    lines = source.splitlines(keepends=True)
    spans = statement_spans(source)
    if spans is None:
        return None
    chosen: list[tuple[int, int]] = []
    for number in flagged:
        span = next((s for s in spans if s[0] <= number < s[1]), None)
        if span is None:
            return None
        if span not in chosen:
            chosen.append(span)
    for start, end in reversed(chosen):
        formatted = _format_statement(lines[start:end], black)
        if formatted is None:
            return None
        lines[start:end] = [formatted]
    return "".join(lines)
