"""Consumer positions of one store translated into another's, after a copy.

A consumer's position is the global position of the last message of a category it
handled. A copy keeps each category's messages in their order but gives them the
target's global positions, so position P of the source becomes the target's global
position of the last message at or before P.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable

from .copy_categories import category_messages, consumed_category
from .errors import CopyError
from .message import RecordedMessage
from .store import EventStore

__all__ = ["PositionMap", "position_translation"]


class PositionMap:
    """Global positions of a category in `source` -> the same messages' in `target`.

    Made by reading the category in both stores side by side. Raises `CopyError` when
    the target's messages of the category are not the source's, in the same order.
    """

    def __init__(self, source: EventStore, target: EventStore, category: str) -> None:
        self.category = category
        self._source: list[int] = []
        self._target: list[int] = []
        self._missing_from: int | None = None
        """The source's global position of the first message the target lacks, if any."""
        pairs = itertools.zip_longest(
            category_messages(source, category), category_messages(target, category)
        )
        for ours, theirs in pairs:
            if ours is None:
                break  # written to the target after the copy: no source position maps to it
            if theirs is None:
                self._missing_from = ours.global_position
                break
            if ours.id != theirs.id:
                raise CopyError(
                    f"category {category!r} differs between the stores (message "
                    f"{len(self._source) + 1}: source {ours.id}, target {theirs.id}): its "
                    "consumers' positions cannot be translated"
                )
            self._source.append(ours.global_position)
            self._target.append(theirs.global_position)

    def translate(self, position: int) -> int:
        """The target's position for the source's `position` (0 before any message).

        Raises `CopyError` when the target lacks a message at or before `position`.
        """
        if self._missing_from is not None and position >= self._missing_from:
            raise CopyError(
                f"the target lacks messages of category {self.category!r} from source global "
                f"position {self._missing_from} on: copy the category before its positions"
            )
        count = bisect.bisect_right(self._source, position)
        return self._target[count - 1] if count else 0


def position_translation(
    source: EventStore, target: EventStore, position_category: str
) -> Callable[[RecordedMessage], RecordedMessage]:
    """A function giving a position message of `position_category` the target's position.

    The message keeps its id, type, metadata and any other data. The function raises
    `CopyError` for a message without a whole-number `position` and as
    `PositionMap.translate` does; making it raises as `PositionMap` does.
    """
    positions = PositionMap(source, target, consumed_category(position_category))

    def translated(message: RecordedMessage) -> RecordedMessage:
        position = message.data.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise CopyError(
                f"position stream {message.stream_name!r} at position {message.position} "
                "holds no whole-number 'position'"
            )
        data = {**message.data, "position": positions.translate(position)}
        return message._replace(data=data)

    return translated
