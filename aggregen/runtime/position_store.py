"""`PositionStore`: where a consumer has read up to, kept as Eventide keeps it.

A consumer's position is the global position of the last message it handled. It is
recorded as an `Updated` message with data `{"position": N}` in the stream
`{category}:position-{consumer}`, so Eventide's tooling can read it, and read back
from that stream's last message.
"""

from __future__ import annotations

from .category import check_category
from .errors import StreamDataError, StreamNameError
from .message import NewMessage, RecordedMessage, StreamWrite, uuid4_string
from .store import AsyncEventStore, EventStore

__all__ = [
    "POSITION_TYPE",
    "AsyncPositionStore",
    "PositionStore",
    "position_stream_name",
    "position_write",
    "recorded_position",
]

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


def recorded_position(stream_name: str, last: RecordedMessage | None) -> int | None:
    """The position that `last`, the position stream's last message, records (None: none).

    Raises `StreamDataError` when it holds no whole-number `position`.
    """
    if last is None:
        return None
    position = last.data.get("position") if isinstance(last.data, dict) else None
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise StreamDataError(
            stream_name,
            last.position,
            f"a position message must hold a whole-number 'position', not {last.data!r}",
        )
    return position


def position_write(stream_name: str, position: int) -> StreamWrite:
    """The write that records `position` in `stream_name` (no expected version).

    Raises `ValueError` for a position that is not a whole number of at least 0.
    """
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise ValueError(f"a position is a global position of at least 0, not {position!r}")
    message = NewMessage(uuid4_string(), POSITION_TYPE, {"position": position}, None)
    return StreamWrite(stream_name, None, [message])


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
        return recorded_position(self.stream_name, self.store.read_last(self.stream_name))

    def put(self, position: int) -> None:
        """Record `position` (any writer may; the newest message wins).

        Raises `ValueError` for a position that is not a whole number of at least 0.
        """
        self.store.append([position_write(self.stream_name, position)])


class AsyncPositionStore:
    """`PositionStore` on an `AsyncEventStore`: the same stream and messages, awaited."""

    def __init__(self, store: AsyncEventStore, category: str, consumer: str) -> None:
        self.store = store
        self.stream_name = position_stream_name(category, consumer)

    async def get(self) -> int | None:
        """The last recorded position, or None; raises as `PositionStore.get` does."""
        return recorded_position(self.stream_name, await self.store.read_last(self.stream_name))

    async def put(self, position: int) -> None:
        """Record `position`; raises as `PositionStore.put` does."""
        await self.store.append([position_write(self.stream_name, position)])
