"""Schema strings that reach the store must be text every store can hold.

Defaults, enum values (and their `value_aliases`), wire type names (an event's `type`
and `aliases`) and `wire_name`s are written into stored events. PostgreSQL's text
and JSON refuse the NUL character and UTF-8 has no lone surrogates, so a schema that
puts one there would generate events that no command can make (the runtime refuses
such text, see `aggregen.runtime.validation.TextRule`). Descriptions and patterns
only reach code, as literals, and may hold anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .errors import SchemaError

__all__ = ["unstorable_text_errors"]

_STORED_KEYS = frozenset({"default", "values", "value_aliases", "type", "aliases", "wire_name"})
"""Keys whose strings (at any depth below them) are written into stored events."""

KeyPath = tuple[str | int, ...]


class _Document(Protocol):
    @property
    def data(self) -> dict[str, Any]: ...

    def value_error(self, key_path: Sequence[str | int], message: str) -> SchemaError: ...


def unstorable_text_errors(document: _Document) -> list[SchemaError]:
    """A positioned error for each stored string holding NUL or a lone surrogate."""
    errors = []
    for path, text in _stored_strings(document.data, (), stored=False):
        problem = _unstorable(text)
        if problem is not None:
            key = next(part for part in reversed(path) if isinstance(part, str))
            errors.append(document.value_error(path, f"{key} {problem}"))
    return errors


def _stored_strings(node: object, path: KeyPath, *, stored: bool) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "pattern") and not stored:
                continue
            inside = stored or key in _STORED_KEYS
            if inside and isinstance(key, str) and _unstorable(key) is not None:
                yield (*path, key), key
            yield from _stored_strings(value, (*path, key), stored=inside)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _stored_strings(item, (*path, index), stored=stored)
    elif stored and isinstance(node, str):
        yield path, node


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain the NUL character (U+0000): no store can hold it"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone surrogate (U+D800 to U+DFFF): no store can hold it"
    return None
