"""Python literals for generated code, written the way black writes them.

`repr` picks single quotes; black prefers double quotes unless that needs more
backslashes. Writing literals in black's form here lets most generated files skip
black altogether (see `format`). Every function returns source that evaluates to
its argument.
"""

from __future__ import annotations

import ast

__all__ = ["literal", "repr_quoted", "string_literal"]


def string_literal(value: str) -> str:
    """`value` as a string literal: double quotes unless they need more escaping.

    Ties go to double quotes, as in black: escaping each `"` costs a backslash and
    saves the one each `'` needs inside single quotes.
    """
    source = repr(value)
    if source[0] == '"':
        return source  # repr chose double quotes: `value` has a `'` and no `"`
    doubles = value.count('"')
    if doubles > value.count("'"):
        return source
    body = source[1:-1].replace("\\'", "'")
    if doubles:
        body = body.replace('"', '\\"')
    return f'"{body}"'


def literal(value: object) -> str:
    """`value` as a literal: strings per `string_literal`, tuples and lists of literals.

    Other values (numbers, booleans, None, dates) are `repr`-ed; their reprs hold no
    string literal.
    """
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    return repr(value)


def repr_quoted(source: str) -> str:
    """`source` with each string literal written as `repr` writes it.

    For fingerprints that were computed over `repr`-quoted source (an aggregate's
    state shape) and must not change with the quotes generated code uses.
    """
    parts: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char not in "'\"":
            parts.append(char)
            index += 1
            continue
        end = index + 1
        while source[end] != char:
            end += 2 if source[end] == "\\" else 1
        parts.append(repr(ast.literal_eval(source[index : end + 1])))
        index = end + 1
    return "".join(parts)
