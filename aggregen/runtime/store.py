"""`EventStore` and `AsyncEventStore`, the protocols the stores implement.

`ClosingStore` and `AsyncClosingStore` give a store its `with` (`async with`) from
its `close`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from .message import RecordedMessage, StreamWrite

if TYPE_CHECKING:
    from .category import ConsumerGroup

__all__ = ["AsyncClosingStore", "AsyncEventStore", "ClosingStore", "EventStore"]


class EventStore(Protocol):
    """Append-only streams of messages, as MessageDB keeps them."""

    def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none.

        Raises `ExpectedVersionError` when a stream is not at its expected version,
        `DuplicateMessageError` when a message id is taken, `EventStoreError` when
        the store fails; in each case nothing of `writes` is stored.
        """

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` (inclusive) on, in order, read in pages."""

    def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """Up to `batch_size` messages of the category's streams, in global order.

        As MessageDB's `get_category_messages`: messages from global position
        `position` (inclusive) on; with `consumer_group`, only the streams of that
        member; with `correlation` (a category), only messages whose metadata's
        `correlationStreamName` is in it. A short batch means the category is read
        to its end, for now. Raises `StreamNameError` for a name with `-`, and
        `ValueError` for a batch size below 1.
        """

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None for an empty stream."""

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Self:
        """The store itself: `with connect() as store:` closes it at the end of the block."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""


class AsyncEventStore(Protocol):
    """`EventStore` for asyncio: the same operations and semantics, awaited.

    Each method does what its namesake in `EventStore` does and raises the same
    errors; `read` is an async iterator. A task cancelled during `append` stores all
    of the append or none of it.
    """

    async def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none; see `EventStore.append`."""

    def read(self, stream_name: str, position: int = 0) -> AsyncIterator[RecordedMessage]:
        """The stream's messages from `position` (inclusive) on, in order, read in pages."""

    async def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages; see `EventStore.read_category`."""

    async def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None for an empty stream."""

    async def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        """The store itself: `async with connect_async() as store:` closes it at the end."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store (awaited)."""


class ClosingStore:
    """`with store:` for a store with `close()`: the block's end closes the store."""

    def close(self) -> None:
        """Release what the store holds; stores override it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClosingStore:
    """`async with store:` for a store with `async close()`: the block's end closes it."""

    async def close(self) -> None:
        """Release what the store holds; stores override it."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
