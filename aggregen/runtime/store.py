"""`EventStore`, the protocol both stores implement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from .message import RecordedMessage, StreamWrite

__all__ = ["EventStore"]


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

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None for an empty stream."""

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
