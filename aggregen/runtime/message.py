"""Messages as the event stores take and give them: plain data, no domain types."""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["NewMessage", "RecordedMessage", "StreamWrite", "check_message_id", "uuid4_string"]


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


_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


def uuid4_string() -> str:
    """A random (version 4) UUID string: what `str(uuid.uuid4())` gives, in a third of the time."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_message_id(message_id: str) -> str:
    """Return `message_id` if it is a UUID string, as MessageDB requires; else `ValueError`."""
    if isinstance(message_id, str) and _CANONICAL_UUID.match(message_id):
        return message_id
    try:
        uuid.UUID(message_id)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"a message id must be a UUID string, not {message_id!r}") from None
    return message_id
