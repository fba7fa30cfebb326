"""Riding out a JetStream leader election: which failures are retried, and the retry loop.

When a stream's leader dies, the other replicas elect a new one (5-8 s measured
here); meanwhile requests get no responder, time out, or are refused as "temporarily
unavailable". A JetStream store's operations are safe to run again: reads change
nothing, and an append is idempotent (its message ids have records of their own, and
each stream's first message carries the expected last sequence), so a commit whose
answer was lost is diagnosed as stored when it is run again. `retrying` runs an
operation again after such a failure until the store's `retry_deadline`, one deadline
for the whole call (`deadline` gives it to loops inside the operation); the caller
sees a slow call, not an error. After the deadline it raises
`CommitOutcomeUnknownError` when a commit may be stored, else `EventStoreError`.

How long a request waits for its answer (`request_timeout`): during an election
requests are answered at once or never, so waiting long for one only adds to the
pause. A retried operation's requests wait at most `FIRST_TIMEOUT` while an election
may still be under way (`ELECTION` seconds into the call), then twice as long on each
attempt, up to the store's `timeout`: a server that is merely slow still gets the
time it needs. The store gives a request up sooner still when JetStream announces
the stream's new leader (`jetstream_errors.LeaderElected`). A timed-out attempt is
retried at once (it waited already); an attempt refused at once is retried after a
pause that grows.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from .errors import CommitOutcomeUnknownError, EventStoreError
from .jetstream_errors import ApiError

__all__ = [
    "ELECTION",
    "FIRST_TIMEOUT",
    "RETRYABLE_API_ERRORS",
    "ApiRefusal",
    "deadline",
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
"""Seconds before retrying an attempt refused at once; each such pause doubles, up to
`LONGEST_PAUSE`."""
LONGEST_PAUSE = 0.5

FIRST_TIMEOUT = 1.0
"""Seconds a request waits for its answer, at most, until the call has run `ELECTION`
seconds (never more than the store's `timeout`).

Before, the first attempt waited the whole `timeout` (5 s): a request in flight when
the leader died held the call 5 s even when the new leader was elected sooner. A
short wait is safe for every request, writes included: a commit whose answer did not
come in time is retried as a whole, and the retry reads each stream's last sequence
from the leader again and sends it as `Nats-Expected-Last-Subject-Sequence` with the
same message ids, each id record expecting to be its subject's first message. If the
first commit was stored, the retry is refused (wrong last sequence) and diagnosed as
stored: nothing is written twice. If it is still in flight, the retry is refused
(10164) and waits for it. If it was lost, the retry writes it once."""

ELECTION = 8.0
"""Seconds a stream leader election took at most here (5.2-8.1 s measured): until a
call has run this long, its requests wait `FIRST_TIMEOUT`; after, twice as long on
each attempt, up to the store's `timeout`."""


@dataclass
class _Call:
    """One retried operation in progress: when it started and must end (loop time), and
    how long its requests wait for an answer now."""

    started: float
    deadline: float
    wait: float = FIRST_TIMEOUT


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "aggregen_jetstream_call", default=None
)
"""The retried operation running; operations it calls are retried by it, not again."""


class ApiRefusal(Exception):
    """The `__cause__` of an `EventStoreError` for a JetStream API error answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


def request_timeout(timeout: float) -> float:
    """The wait for a request's answer: the store's `timeout`, or the retried call's
    current wait (`FIRST_TIMEOUT`, growing after `ELECTION`) when that is shorter."""
    call = _call.get()
    return timeout if call is None else min(timeout, call.wait)


def deadline(seconds: float) -> float:
    """The event loop time at which the retried call in progress must end; outside one,
    `seconds` from now. Loops inside an operation (waiting out a write in flight, a
    replica behind the leader) count against the same `retry_deadline` as the call."""
    call = _call.get()
    if call is not None:
        return call.deadline
    return asyncio.get_running_loop().time() + seconds


def retryable(error: BaseException) -> bool:
    """True when `error` (or its cause) is what a leader election or a node restart
    gives: no responders, a timeout, a lost, reconnecting or refused connection (an
    `OSError`, or no server reachable), or an API error in `RETRYABLE_API_ERRORS` (or
    any with HTTP-like code 503)."""
    import nats.errors

    cause = error.__cause__ if isinstance(error, EventStoreError) else error
    if isinstance(cause, ApiRefusal):
        return cause.error.err_code in RETRYABLE_API_ERRORS or cause.error.code == 503
    return isinstance(
        cause,
        nats.errors.NoRespondersError
        | OSError  # TimeoutError (nats.errors.TimeoutError is one), ConnectionRefusedError
        | nats.errors.StaleConnectionError
        | nats.errors.ConnectionReconnectingError
        | nats.errors.OutboundBufferLimitError
        | nats.errors.NoServersError,
    )


def _timed_out(error: EventStoreError) -> bool:
    """Whether the attempt failed by waiting its whole request timeout."""
    return isinstance(error.__cause__, TimeoutError)


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
        if _call.get() is not None:
            return await operation(store, *args, **kwargs)
        started = asyncio.get_running_loop().time()
        token = _call.set(_Call(started, started + store.retry_deadline))
        try:
            return await _until_deadline(
                store.retry_deadline, lambda: operation(store, *args, **kwargs)
            )
        finally:
            _call.reset(token)

    return run


async def _until_deadline(seconds: float, attempt: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.get_running_loop()
    call = _call.get()
    assert call is not None
    pause = FIRST_PAUSE
    unknown = False
    retries = 0
    while True:
        try:
            result = await attempt()
        except EventStoreError as error:
            unknown = unknown or isinstance(error, CommitOutcomeUnknownError)
            now = loop.time()
            if not retryable(error):
                if unknown and not isinstance(error, CommitOutcomeUnknownError):
                    # An earlier attempt's commit may still land (a leader without a
                    # quorum holds it in flight, refusing the next ones with 10164).
                    raise _given_up(error, now - call.started, seconds, retries) from error
                raise
            remaining = call.deadline - now
            if remaining <= 0:  # the last attempt ran at the deadline
                if unknown:
                    raise _given_up(error, now - call.started, seconds, retries) from error
                raise EventStoreError(
                    f"{error} (retried {retries} times in {now - call.started:.1f} s, "
                    f"retry_deadline {seconds:g} s)"
                ) from error
            retries += 1
            if _timed_out(error):
                wait = 0.0  # the attempt waited already
                if now - call.started >= ELECTION:  # a slow server, more likely than an election
                    call.wait *= 2
            else:
                wait = min(pause, remaining)  # one more attempt when the deadline comes
                pause = min(2 * pause, LONGEST_PAUSE)
            logger.warning("JetStream request failed, retrying in %.2f s: %s", wait, error)
            await asyncio.sleep(wait)
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
