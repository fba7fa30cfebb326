"""Comparing two stores stream by stream, after a copy from one to the other."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .copy_categories import Positions, category_messages, choose_categories
from .copy_positions import position_translation
from .message import RecordedMessage
from .store import EventStore

__all__ = ["Difference", "message_difference", "stream_difference", "verify_streams"]

Transform = Callable[[RecordedMessage], RecordedMessage]

_COMPARED = ("id", "type", "position", "data", "metadata")


@dataclass(frozen=True)
class Difference:
    """A stream that differs between source and target from `position` on."""

    stream_name: str
    position: int
    problem: str

    def __str__(self) -> str:
        return f"{self.stream_name} at position {self.position}: {self.problem}"


def message_difference(ours: RecordedMessage | None, theirs: RecordedMessage | None) -> str | None:
    """What differs between a source message and the target's at its position; None: nothing.

    Data and metadata are compared as values and never quoted (they may be personal).
    """
    if ours is None:
        return "the target has a message the source lacks"
    if theirs is None:
        return "the target lacks this message"
    for name in _COMPARED:
        mine, other = getattr(ours, name), getattr(theirs, name)
        if mine != other:
            if name in ("data", "metadata"):
                return f"{name} differs"
            return f"{name} differs: source {mine!r}, target {other!r}"
    return None


def stream_difference(
    source: EventStore,
    target: EventStore,
    name: str,
    transform: Transform | None = None,
    end: int | None = None,
) -> Difference | None:
    """The first difference of the stream in the two stores (up to position `end`), or None.

    `transform` is applied to the source's messages first (see `copy_positions`).
    """
    ours = source.read(name)
    pairs = itertools.zip_longest(
        ours if transform is None else map(transform, ours), target.read(name)
    )
    for ours_message, theirs in itertools.islice(pairs, None if end is None else end + 1):
        problem = message_difference(ours_message, theirs)
        if problem is not None:
            position = (ours_message or theirs).position
            return Difference(name, position, problem)
    return None


def verify_streams(
    source: EventStore,
    target: EventStore,
    categories: Iterable[str] | None = None,
    *,
    positions: Positions = "skip",
) -> list[Difference]:
    """Compare source and target stream by stream: counts, ids, types, data, metadata,
    positions. One `Difference` per stream that differs (its first), by category and name.

    Position categories are compared as `copy_streams` copies them with the same
    `positions`: translated, or left out. Raises as `copy_streams` does for
    `categories` and `positions`, and `CopyError` when positions cannot be translated.
    """
    selection = choose_categories(source, categories, positions)
    compared: list[tuple[str, Transform | None]] = [(c, None) for c in selection.categories]
    compared += [(c, position_translation(source, target, c)) for c in selection.translated]
    differences = []
    for category, transform in compared:
        ours = {m.stream_name: None for m in category_messages(source, category)}
        theirs = {m.stream_name: None for m in category_messages(target, category)}
        for name in sorted(ours.keys() | theirs.keys()):
            difference = stream_difference(source, target, name, transform)
            if difference is not None:
                counts = (
                    f" (source {source.stream_version(name) + 1} messages, "
                    f"target {target.stream_version(name) + 1})"
                )
                differences.append(
                    Difference(name, difference.position, difference.problem + counts)
                )
    return differences
