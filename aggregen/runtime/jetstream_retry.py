"""Riding out a JetStream leader election: which failures are retried, and the retry loop.

When a stream's leader dies, the other replicas elect a new one (5-8 s measured
here); meanwhile requests get no responder, time out, or are refused as "temporarily
unavailable". A JetStream store's operations are safe to run again: reads change
nothing, and an append is idempotent (its message ids have records of their own, and
each stream's first message carries the expected last sequence), so a commit whose
answer was lost is diagnosed as stored when it is run again. `retrying` runs an
operation again after such a failure, with a growing pause, until the store's
`retry_deadline`; the caller sees a slow call, not an error. After the deadline it
raises `CommitOutcomeUnknownError` when a commit may be stored, else `EventStoreError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .errors import CommitOutcomeUnknownError, EventStoreError
from .jetstream_errors import ApiError

__all__ = [
    "RETRYABLE_API_ERRORS",
    "RETRY_TIMEOUT",
    "ApiRefusal",
    "request_timeout",
    "retryable",
    "retrying",
]

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger("aggregen.jetstream")

RETRYABLE_API_ERRORS = frozenset(
    {
        10004,  # JSClusterIncompleteErr: incomplete results
        10008,  # JSClusterNotAvailErr: JetStream system temporarily unavailable
        10009,  # JSClusterNotLeaderErr: this server cannot handle the request (not leader)
        10118,  # JSStreamOfflineErr: the stream has no leader yet
        10176,  # JSAtomicPublishIncompleteBatchErr: the leader changed during the batch
        10211,  # JSBatchPublishTooManyInflight
    }
)
"""JetStream API error codes that a leader election (or a busy leader) explains."""

FIRST_PAUSE = 0.05
"""Seconds before the first retry; each pause doubles, up to `LONGEST_PAUSE`."""
LONGEST_PAUSE = 1.0

RETRY_TIMEOUT = 1.0
"""Seconds a request waits for its answer once an operation is being retried, at most.

During an election JetStream's API requests are answered at once or never (the
servers that receive them have no leader to hand them to): waiting the store's whole
`timeout` on each would leave room for only two or three attempts in the deadline."""

_timeout_now: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "aggregen_jetstream_timeout", default=None
)

_retrying_now: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "aggregen_jetstream_retrying", default=False
)
"""True inside a retried operation: operations it calls are retried by it, not again."""


class ApiRefusal(Exception):
    """The `__cause__` of an `EventStoreError` for a JetStream API error answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


def request_timeout(timeout: float) -> float:
    """The wait for a request's answer: the store's `timeout`, or `RETRY_TIMEOUT` when
    shorter and the operation is being retried."""
    now = _timeout_now.get()
    return timeout if now is None else min(timeout, now)


def retryable(error: BaseException) -> bool:
    """True when `error` (or its cause) is what a leader election gives: no responders,
    a timeout, a lost or reconnecting connection, or an API error in
    `RETRYABLE_API_ERRORS` (or any with HTTP-like code 503)."""
    import nats.errors

    cause = error.__cause__ if isinstance(error, EventStoreError) else error
    if isinstance(cause, ApiRefusal):
        return cause.error.err_code in RETRYABLE_API_ERRORS or cause.error.code == 503
    return isinstance(
        cause,
        nats.errors.NoRespondersError
        | TimeoutError  # nats.errors.TimeoutError is one
        | nats.errors.StaleConnectionError
        | nats.errors.ConnectionReconnectingError
        | nats.errors.OutboundBufferLimitError,
    )


class _Store(Protocol):
    @property
    def retry_deadline(self) -> float: ...


_S = TypeVar("_S", bound=_Store)


def retrying(
    operation: Callable[Concatenate[_S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[_S, P], Coroutine[Any, Any, T]]:
    """`operation` (a store method), run again after a `retryable` failure until the
    store's `retry_deadline` (seconds) has passed since the first attempt.

    Raises what `operation` raises when it is not retryable; after the deadline,
    `CommitOutcomeUnknownError` if any attempt's commit outcome was unknown, else
    `EventStoreError`, both `from` the last failure. Operations called by a retried
    one are not retried on their own (the outer one runs them again).
    """

    @functools.wraps(operation)
    async def run(store: _S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if _retrying_now.get():
            return await operation(store, *args, **kwargs)
        token = _retrying_now.set(True)
        timeout_token = _timeout_now.set(None)
        try:
            return await _until_deadline(
                store.retry_deadline, lambda: operation(store, *args, **kwargs)
            )
        finally:
            _timeout_now.reset(timeout_token)
            _retrying_now.reset(token)

    return run


async def _until_deadline(seconds: float, attempt: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.get_running_loop()
    started = loop.time()
    pause = FIRST_PAUSE
    unknown = False
    retries = 0
    while True:
        try:
            result = await attempt()
        except EventStoreError as error:
            unknown = unknown or isinstance(error, CommitOutcomeUnknownError)
            if not retryable(error):
                if unknown and not isinstance(error, CommitOutcomeUnknownError):
                    # An earlier attempt's commit may still land (a leader without a
                    # quorum holds it in flight, refusing the next ones with 10164).
                    raise _given_up(error, loop.time() - started, seconds, retries) from error
                raise
            remaining = started + seconds - loop.time()
            if remaining <= 0:  # the last attempt ran at the deadline
                if unknown:
                    raise _given_up(error, loop.time() - started, seconds, retries) from error
                raise EventStoreError(
                    f"{error} (retried {retries} times in {loop.time() - started:.1f} s, "
                    f"retry_deadline {seconds:g} s)"
                ) from error
            retries += 1
            _timeout_now.set(RETRY_TIMEOUT)
            pause = min(pause, remaining)  # one more attempt when the deadline comes
            logger.warning("JetStream request failed, retrying in %.2f s: %s", pause, error)
            await asyncio.sleep(pause)
            pause = min(2 * pause, LONGEST_PAUSE)
        else:
            if retries:
                logger.info("JetStream request succeeded after %d retries", retries)
            return result


def _given_up(
    error: EventStoreError, elapsed: float, seconds: float, retries: int
) -> CommitOutcomeUnknownError:
    """The error for an append given up after an attempt whose commit may be stored."""
    what = f"{error} (retried {retries} times in {elapsed:.1f} s, retry_deadline {seconds:g} s)"
    if isinstance(error, CommitOutcomeUnknownError):
        return CommitOutcomeUnknownError(what)
    return CommitOutcomeUnknownError(
        f"{what}; an earlier attempt's commit may be stored, and appending the same "
        "messages again is safe"
    )
