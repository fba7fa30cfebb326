"""Causation and correlation: which message an event was raised in reaction to.

While a consumer or projector hands a message to its handler, that message is the
cause of every event the handler raises (in this thread or task): the events carry
the message's id, stream name, position and global position, and the correlation
the message carried (or the message itself, when it carried none), under Eventide's
metadata keys. `correlated(...)` sets a correlation explicitly around commands that
no message caused, for example an HTTP request's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Self

from .message import RecordedMessage
from .record import TupleRecord, defaults_of, field

__all__ = ["Cause", "cause_in_effect", "cause_of", "caused_by", "correlated", "current_cause"]


class Cause(TupleRecord):
    """What events raised now are stamped with; any part may be None.

    A named tuple (see `aggregen.runtime.record`).
    """

    __slots__ = ()
    _fields = __match_args__ = (
        "message_id",
        "stream_name",
        "position",
        "global_position",
        "correlation_id",
        "correlation_stream_name",
    )

    def __new__(
        cls,
        message_id: str | None = None,
        stream_name: str | None = None,
        position: int | None = None,
        global_position: int | None = None,
        correlation_id: str | None = None,
        correlation_stream_name: str | None = None,
    ) -> Self:
        return tuple.__new__(
            cls,
            (
                message_id,
                stream_name,
                position,
                global_position,
                correlation_id,
                correlation_stream_name,
            ),
        )

    _field_defaults = defaults_of(__new__)
    message_id: str | None = field(0)
    stream_name: str | None = field(1)
    position: int | None = field(2)
    global_position: int | None = field(3)
    correlation_id: str | None = field(4)
    correlation_stream_name: str | None = field(5)


cause_in_effect: ContextVar[Cause | RecordedMessage | None] = ContextVar(
    "aggregen_cause", default=None
)
"""The message being handled (turned into a `Cause` only when an event is raised), or
an explicit `Cause`, or None. Consumers set it around each message: cheaply."""


def cause_of(message: RecordedMessage) -> Cause:
    """The cause that `message` gives the events raised in reaction to it.

    The correlation id is the message's `correlationId`, else its own id; the
    correlation stream name is its `correlationStreamName`, else its stream.
    """
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    correlation_id = metadata.get("correlationId")
    correlation_stream = metadata.get("correlationStreamName")
    return Cause(
        message.id,
        message.stream_name,
        message.position,
        message.global_position,
        correlation_id if isinstance(correlation_id, str) else message.id,
        correlation_stream if isinstance(correlation_stream, str) else message.stream_name,
    )


def current_cause() -> Cause | None:
    """The cause of events raised now in this context, if any."""
    cause = cause_in_effect.get()
    if cause is None or isinstance(cause, Cause):
        return cause
    return cause_of(cause)


@contextmanager
def caused_by(message: RecordedMessage) -> Iterator[Cause]:
    """Events raised inside are caused by `message` and carry its correlation forward."""
    token = cause_in_effect.set(message)
    try:
        yield cause_of(message)
    finally:
        cause_in_effect.reset(token)


@contextmanager
def correlated(
    correlation_id: str | None = None, *, correlation_stream_name: str | None = None
) -> Iterator[Cause]:
    """Events raised inside carry this correlation (and no causing message).

    Raises `ValueError` when neither part is given.
    """
    if correlation_id is None and correlation_stream_name is None:
        raise ValueError("correlated() needs a correlation_id, a correlation_stream_name or both")
    cause = Cause(correlation_id=correlation_id, correlation_stream_name=correlation_stream_name)
    token = cause_in_effect.set(cause)
    try:
        yield cause
    finally:
        cause_in_effect.reset(token)
