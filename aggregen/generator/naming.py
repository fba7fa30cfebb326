"""Names and text in generated code: snake_case, enum member names, safe docstrings.

Every function here returns text that is safe to paste into Python source: free
text from a schema is escaped so that it can never end a string or a comment.
"""

from __future__ import annotations

import keyword
import re

__all__ = [
    "comment_text",
    "docstring",
    "enum_member_name",
    "is_identifier",
    "snake_case",
]

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^A-Za-z0-9]+")
_DOC_WIDTH = 84


def snake_case(name: str) -> str:
    """`BankAccount` -> `bank_account`, `HTTPServer` -> `http_server`."""
    return _WORD_BOUNDARY.sub("_", name).lower()


def is_identifier(name: str) -> bool:
    """Whether `name` can be a Python name: an identifier, no keyword, no soft keyword."""
    return (
        name.isidentifier()
        and name.isascii()
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
    )


def enum_member_name(value: str) -> str:
    """The `StrEnum` member name for a value: upper snake case of its letters and digits.

    `"in progress"` -> `IN_PROGRESS`, `"EUR"` -> `EUR`, `"3d"` -> `V_3D`; "" when the
    value has no letter or digit at all (the caller reports that).
    """
    words = _NOT_WORD.sub(" ", snake_case(value.strip())).split()
    name = "_".join(words).upper()
    if name and not name[0].isalpha():
        name = "V_" + name
    return name


def _escape_char(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    if char.isprintable():
        return char
    return repr(char)[1:-1]


def _escaped_words(paragraph: str) -> list[list[str]]:
    """Split on spaces; each word is a list of escaped, unsplittable pieces."""
    return [[_escape_char(c) for c in word] for word in paragraph.split(" ") if word]


def _wrap(paragraph: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for pieces in _escaped_words(paragraph):
        word = "".join(pieces)
        if line and len(line) + 1 + len(word) <= width:
            line += " " + word
            continue
        if line:
            lines.append(line)
        line = ""
        for piece in pieces:
            if len(line) + len(piece) > width and line:
                lines.append(line)
                line = ""
            line += piece
    if line:
        lines.append(line)
    return lines


def docstring_lines(text: str, width: int = _DOC_WIDTH) -> list[str]:
    """Free text as escaped docstring lines, wrapped at `width`, paragraphs kept."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n"):
        wrapped = _wrap(paragraph.replace("\t", " ").strip(), width)
        lines.extend(wrapped or [""])
    while lines and not lines[-1]:
        lines.pop()
    return lines


def docstring(*parts: str, indent: int = 0) -> str:
    """A complete triple-quoted docstring of the non-empty `parts`, one paragraph each.

    Backslashes and double quotes are escaped and unprintable characters written as
    escapes, so no text can end the string early. Lines after the first are indented
    by `indent` spaces.
    """
    lines: list[str] = []
    for part in parts:
        part_lines = docstring_lines(part, _DOC_WIDTH - indent - 3)
        if not part_lines:
            continue
        if lines:
            lines.append("")
        lines.extend(part_lines)
    if not lines:
        lines = [""]
    pad = " " * indent
    if len(lines) == 1:
        # A closing `\"` would run into the quotes; black pads it with a space too.
        padding = " " if lines[0].endswith('"') else ""
        return f'"""{lines[0]}{padding}"""'
    body = "\n".join((pad + line) if line else "" for line in lines[1:])
    return f'"""{lines[0]}\n{body}\n{pad}"""'


def comment_text(text: str) -> str:
    """`text` for a single-line comment: unprintable characters (newlines too) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
