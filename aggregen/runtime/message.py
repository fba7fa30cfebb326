"""Messages as the event stores take and give them: plain data, no domain types."""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any, Self

from .record import FrozenRecord, TupleRecord, defaults_of, field, set_field

__all__ = ["NewMessage", "RecordedMessage", "StreamWrite", "check_message_id", "uuid4_string"]


class NewMessage(TupleRecord):
    """A message to write: its unique id (a UUID string), type, data and metadata.

    A named tuple (see `aggregen.runtime.record`).
    """

    __slots__ = ()
    _fields = __match_args__ = ("id", "type", "data", "metadata")

    def __new__(
        cls, id: str, type: str, data: dict[str, Any], metadata: dict[str, Any] | None
    ) -> Self:
        return tuple.__new__(cls, (id, type, data, metadata))

    _field_defaults = defaults_of(__new__)
    id: str = field(0)
    type: str = field(1)
    data: dict[str, Any] = field(2)
    metadata: dict[str, Any] | None = field(3)


class RecordedMessage(TupleRecord):
    """A stored message as read back, with its stream position and global position.

    A named tuple (see `aggregen.runtime.record`).
    """

    __slots__ = ()
    _fields = __match_args__ = (
        "id",
        "stream_name",
        "type",
        "position",
        "global_position",
        "data",
        "metadata",
        "time",
    )

    def __new__(
        cls,
        id: str,
        stream_name: str,
        type: str,
        position: int,
        global_position: int,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        time: datetime.datetime,
    ) -> Self:
        return tuple.__new__(
            cls, (id, stream_name, type, position, global_position, data, metadata, time)
        )

    _field_defaults = defaults_of(__new__)
    id: str = field(0)
    stream_name: str = field(1)
    type: str = field(2)
    position: int = field(3)
    global_position: int = field(4)
    data: dict[str, Any] = field(5)
    metadata: dict[str, Any] | None = field(6)
    time: datetime.datetime = field(7)


class StreamWrite(FrozenRecord):
    """Messages to append to one stream, which must be at `expected_version` (None: any).

    `expected_version` -1 means the stream must not exist yet.
    """

    __match_args__ = ("stream_name", "expected_version", "messages")
    __slots__ = __match_args__
    stream_name: str
    expected_version: int | None
    messages: Sequence[NewMessage]

    def __init__(
        self, stream_name: str, expected_version: int | None, messages: Sequence[NewMessage]
    ) -> None:
        set_field(self, "stream_name", stream_name)
        set_field(self, "expected_version", expected_version)
        set_field(self, "messages", messages)

    @property
    def category(self) -> str:
        """The stream's category: everything before the first `-`."""
        return self.stream_name.split("-", 1)[0]


@cache
def _canonical_uuid() -> re.Pattern[str]:
    """The pattern of a UUID string, compiled on first use rather than at import."""
    return re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")


_IDS_PER_DRAW = 128
_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_VARIANT_1 = bytes((byte & 0x3F) | 0x80 for byte in range(256))
_spare_ids: list[str] = []
"""Random ids drawn ahead, taken with `list.pop` (atomic, so safe across threads)."""

if hasattr(os, "register_at_fork"):  # a forked child must not hand out its parent's ids
    os.register_at_fork(after_in_child=_spare_ids.clear)


def _draw_ids() -> list[str]:
    """`_IDS_PER_DRAW` random UUID strings from one `os.urandom` call."""
    raw = bytearray(os.urandom(16 * _IDS_PER_DRAW))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_1)
    # 'aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh-' per id: 40 characters, 4 dashes to keep
    h = raw.hex("-", 2)
    return [
        h[i : i + 4] + h[i + 5 : i + 29] + h[i + 30 : i + 34] + h[i + 35 : i + 39]
        for i in range(0, 40 * _IDS_PER_DRAW, 40)
    ]


def uuid4_string() -> str:
    """A random (version 4) UUID string, as `str(uuid.uuid4())` gives, in a fifth of the time.

    The random bytes come from `os.urandom`, drawn for 128 ids at a time; a forked
    child process discards the ids its parent drew ahead.
    """
    try:
        return _spare_ids.pop()
    except IndexError:
        ids = _draw_ids()
        mine = ids.pop()
        _spare_ids.extend(ids)
        return mine


def check_message_id(message_id: str) -> str:
    """`message_id` as MessageDB keeps it, if it is a UUID string; else `ValueError`.

    MessageDB's ids are a uuid column: `ABC...`, `abc...` and `{abc...}` are one id,
    read back as the canonical lower-case string. Every store stores and compares
    the id this returns, so that all of them take, refuse and give back the same ids.
    """
    if isinstance(message_id, str) and _canonical_uuid().match(message_id):
        return message_id.lower()
    try:
        return str(uuid.UUID(message_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"a message id must be a UUID string, not {message_id!r}") from None
