"""Messages as the event stores take and give them: plain data, no domain types."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["NewMessage", "RecordedMessage", "StreamWrite", "check_message_id"]


class NewMessage(NamedTuple):
    """A message to write: its unique id (a UUID string), type, data and metadata."""

    id: str
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None


class RecordedMessage(NamedTuple):
    """A stored message as read back, with its stream position and global position."""

    id: str
    stream_name: str
    type: str
    position: int
    global_position: int
    data: dict[str, Any]
    metadata: dict[str, Any] | None
    time: datetime.datetime


@dataclass(frozen=True, slots=True)
class StreamWrite:
    """Messages to append to one stream, which must be at `expected_version` (None: any).

    `expected_version` -1 means the stream must not exist yet.
    """

    stream_name: str
    expected_version: int | None
    messages: Sequence[NewMessage]

    @property
    def category(self) -> str:
        """The stream's category: everything before the first `-`."""
        return self.stream_name.split("-", 1)[0]


def check_message_id(message_id: str) -> str:
    """Return `message_id` if it is a UUID string, as MessageDB requires; else `ValueError`."""
    try:
        uuid.UUID(message_id)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"a message id must be a UUID string, not {message_id!r}") from None
    return message_id
