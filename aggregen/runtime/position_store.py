"""`PositionStore`: where a consumer has read up to, kept as Eventide keeps it.

A consumer's position is the global position of the last message it handled. It is
recorded as an `Updated` message with data `{"position": N}` in the stream
`{category}:position-{consumer}`, so Eventide's tooling can read it, and read back
from that stream's last message.
"""

from __future__ import annotations

from .category import check_category
from .errors import StreamDataError, StreamNameError
from .message import NewMessage, StreamWrite, uuid4_string
from .store import EventStore

__all__ = ["POSITION_TYPE", "PositionStore", "position_stream_name"]

POSITION_TYPE = "Updated"


def position_stream_name(category: str, consumer: str) -> str:
    """The stream of a consumer's positions: `{category}:position-{consumer}`.

    Raises `StreamNameError` when `category` is not a category or `consumer` is empty
    or holds white space or control characters.
    """
    check_category(category)
    if not isinstance(consumer, str) or not consumer:
        raise StreamNameError(f"a consumer name must be a non-empty str, not {consumer!r}")
    if not consumer.isprintable() or " " in consumer:
        raise StreamNameError(
            f"invalid consumer name {consumer!r}: no white space or control characters"
        )
    return f"{category}:position-{consumer}"


class PositionStore:
    """Reads and records one consumer's position in its position stream."""

    def __init__(self, store: EventStore, category: str, consumer: str) -> None:
        self.store = store
        self.stream_name = position_stream_name(category, consumer)

    def get(self) -> int | None:
        """The last recorded position, or None when none was recorded.

        Raises `StreamDataError` when the last message of the position stream holds
        no whole-number `position`.
        """
        last = self.store.read_last(self.stream_name)
        if last is None:
            return None
        position = last.data.get("position") if isinstance(last.data, dict) else None
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise StreamDataError(
                self.stream_name,
                last.position,
                f"a position message must hold a whole-number 'position', not {last.data!r}",
            )
        return position

    def put(self, position: int) -> None:
        """Record `position` (any writer may; the newest message wins).

        Raises `ValueError` for a position that is not a whole number of at least 0.
        """
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise ValueError(f"a position is a global position of at least 0, not {position!r}")
        message = NewMessage(uuid4_string(), POSITION_TYPE, {"position": position}, None)
        self.store.append([StreamWrite(self.stream_name, None, [message])])
