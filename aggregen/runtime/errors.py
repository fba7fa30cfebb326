"""The runtime's exceptions: one root, `AggregenError`, and one class per failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "AggregateNotFoundError",
    "AggregenError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "CopyError",
    "DuplicateMessageError",
    "EventStoreError",
    "ExpectedVersionError",
    "StreamDataError",
    "StreamExistsError",
    "StreamNameError",
    "ValidationError",
]


class AggregenError(Exception):
    """Root of every error aggregen raises on purpose."""


class ConfigurationError(AggregenError):
    """A setting (environment variable, URI, threshold) has a value that cannot be used."""


class ValidationError(AggregenError, ValueError):
    """Values broke a field's rules; `messages` maps each failing field to its messages."""

    def __init__(self, messages: Mapping[str, Sequence[str]], *, subject: str = "") -> None:
        self.messages: dict[str, list[str]] = {name: list(msgs) for name, msgs in messages.items()}
        self.subject = subject
        details = "; ".join(
            f"{name}: {', '.join(msgs)}" for name, msgs in sorted(self.messages.items())
        )
        prefix = f"invalid {subject}: " if subject else "invalid values: "
        super().__init__(prefix + details)


class CopyError(AggregenError):
    """A copy between stores cannot go on without losing or overwriting something."""


class StreamNameError(AggregenError, ValueError):
    """A category or an id cannot form a MessageDB stream name."""


class ExpectedVersionError(AggregenError):
    """A stream was not at the version a write expected: someone else wrote first.

    Nothing of the failed commit is stored. Reload the aggregate and try again.
    """

    def __init__(self, stream_name: str, expected_version: int, actual_version: int) -> None:
        self.stream_name = stream_name
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_name!r} is at version {actual_version}, "
            f"the write expected version {expected_version}"
        )


class StreamExistsError(ExpectedVersionError):
    """A write meant to start a stream (a new aggregate) found the stream already there.

    Usually the aggregate's id is taken: load it with `get`, or choose another id.
    """

    def __init__(self, stream_name: str, actual_version: int) -> None:
        super().__init__(stream_name, -1, actual_version)
        self.args = (
            f"stream {stream_name!r} already exists (at version {actual_version}): "
            "the write expected a new stream",
        )


def version_conflict(
    stream_name: str, expected_version: int, actual_version: int
) -> ExpectedVersionError:
    """The error for a write that expected another version: both stores raise this one.

    A write that expected a new stream (-1) is a `StreamExistsError`.
    """
    if expected_version == -1:
        return StreamExistsError(stream_name, actual_version)
    return ExpectedVersionError(stream_name, expected_version, actual_version)


class AggregateNotFoundError(AggregenError, LookupError):
    """No event, and no snapshot, exists for the requested aggregate id."""

    def __init__(self, aggregate_name: str, aggregate_id: str, stream_name: str) -> None:
        self.aggregate_name = aggregate_name
        self.aggregate_id = aggregate_id
        self.stream_name = stream_name
        super().__init__(f"{aggregate_name} {aggregate_id!r} not found (stream {stream_name!r})")


class StreamDataError(AggregenError):
    """A stored message cannot be turned back into an event: unknown type or bad data."""

    def __init__(self, stream_name: str, position: int, problem: str) -> None:
        self.stream_name = stream_name
        self.position = position
        self.problem = problem
        super().__init__(f"stream {stream_name!r} at position {position}: {problem}")


class DuplicateMessageError(AggregenError):
    """A message id is already stored; message ids are unique across the store."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"message id {message_id} is already stored")


class EventStoreError(AggregenError):
    """The event store failed (unreachable, connection lost, unexpected database error)."""


class CommitOutcomeUnknownError(EventStoreError):
    """A commit's connection was lost before its outcome was known: it may be stored.

    Retrying the same unit of work (the same aggregates, with their pending events) is
    safe: appends are idempotent by message id, so nothing is stored twice.
    """
