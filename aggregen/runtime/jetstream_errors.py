"""NATS and JetStream failures as aggregen's errors: the one place they are translated.

nats-py raises its own exceptions (`nats.errors.*`) for transport failures, and the
JetStream API answers with `{"error": {"code", "err_code", "description"}}`. The store
turns both into `EventStoreError` (or `CommitOutcomeUnknownError` when a commit may be
stored) here, re-raised `from` the original; version and id conflicts are diagnosed by
the store itself (see `AsyncJetStreamEventStore.append`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import CommitOutcomeUnknownError, EventStoreError

__all__ = [
    "CONFLICTS",
    "NOT_FOUND",
    "STREAM_NOT_FOUND",
    "ApiError",
    "LeaderElected",
    "api_error",
    "transport_error",
]

WRONG_LAST_SEQUENCE = 10071
"""An expected-last-subject-sequence check failed: another write came first."""
BATCH_SUBJECT_IN_FLIGHT = 10164
"""A subject checked twice in one batch, or written by another batch in flight."""
CONFLICTS = frozenset({WRONG_LAST_SEQUENCE, BATCH_SUBJECT_IN_FLIGHT})
NOT_FOUND = 10037
"""No message matches a get."""
STREAM_NOT_FOUND = 10059


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error answer of the JetStream API."""

    code: int
    err_code: int
    description: str

    def __str__(self) -> str:
        return f"{self.description} (JetStream error {self.err_code})"


class LeaderElected(TimeoutError):
    """A request's answer will not come: the stream elected a new leader while it waited
    (the old one, or no leader at all, had the request). A timeout that came early."""


def api_error(answer: dict[str, Any]) -> ApiError | None:
    """The error in a JetStream API answer, or None when it has none."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return None
    return ApiError(
        int(error.get("code", 0)), int(error.get("err_code", 0)), str(error.get("description"))
    )


def transport_error(error: BaseException, *, commit: bool) -> EventStoreError:
    """The error for a failure of nats-py (`nats.errors.Error`, `OSError`, a timeout).

    A commit whose answer did not come may be stored: `CommitOutcomeUnknownError`,
    after which appending the same messages again is safe.
    """
    import nats.errors  # the caller has it imported already: a dictionary look-up

    if isinstance(error, LeaderElected):
        problem = "a new stream leader was elected while the request waited for its answer"
    elif isinstance(error, nats.errors.NoRespondersError):
        problem = "no JetStream server answered (is the stream's leader being elected?)"
    elif isinstance(error, TimeoutError):
        problem = "no answer from JetStream in time"
    elif isinstance(error, nats.errors.ConnectionClosedError | nats.errors.NoServersError):
        problem = f"no connection to NATS: {type(error).__name__}"
    else:
        problem = f"{type(error).__name__}: {error}"
    if commit:
        return CommitOutcomeUnknownError(
            f"event store failed: {problem}; the commit may be stored, and appending the "
            "same messages again is safe"
        )
    return EventStoreError(f"event store failed: {problem}")
