"""`update_with_retry`: load, change and store an aggregate, again on a version conflict.

`update_with_retry_async` is its asyncio twin: the checks, the number of attempts
and the pause between them are the same functions, only the I/O is awaited.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .aggregate import Aggregate
from .errors import ExpectedVersionError
from .repository import Repository
from .unit_of_work import active_unit_of_work

if TYPE_CHECKING:
    from .repository_async import AsyncRepository

__all__ = ["update_with_retry", "update_with_retry_async"]

A = TypeVar("A", bound=Aggregate)


def update_with_retry(
    repository: Repository[A],
    aggregate_id: str,
    command: Callable[[A], object],
    *,
    attempts: int = 10,
    max_delay: float = 0.05,
    from_replica: bool = False,
) -> A:
    """Get the aggregate, run `command` on it and add it; on a conflict, start over.

    `command` must depend only on the aggregate it is given, since it may run up to
    `attempts` times, each time on a freshly loaded aggregate, with a short random
    pause (at most `max_delay` seconds) between attempts. With `from_replica`, the
    first attempt reads the store's replica; after a conflict every attempt reads
    the primary (the conflict showed the replica behind for this stream, and the
    primary holds the version the next write is checked against). Returns the stored
    aggregate. Raises the last `ExpectedVersionError` when every attempt lost,
    whatever `command` raises (the invariant it checks), and `RuntimeError` inside
    a `UnitOfWork` on the same store, where conflicts only appear at its end.
    """
    for attempt in _attempts(repository, attempts, "update_with_retry"):
        aggregate = repository.get(aggregate_id, from_replica=from_replica and attempt == 1)
        command(aggregate)
        try:
            repository.add(aggregate)
        except ExpectedVersionError:
            if attempt == attempts:
                raise
            time.sleep(_pause(attempt, max_delay))
        else:
            return aggregate
    raise AssertionError("unreachable")


async def update_with_retry_async(
    repository: AsyncRepository[A],
    aggregate_id: str,
    command: Callable[[A], object],
    *,
    attempts: int = 10,
    max_delay: float = 0.05,
    from_replica: bool = False,
) -> A:
    """`update_with_retry` for an `AsyncRepository`: the same attempts, reads, pauses, errors.

    `command` may be a plain function or return an awaitable (an `async def`), which
    is awaited before the aggregate is added. The pause between attempts is an
    `asyncio.sleep`, so other tasks run meanwhile. Raises what `update_with_retry`
    raises (`RuntimeError` inside an `AsyncUnitOfWork` on the same store).
    """
    for attempt in _attempts(repository, attempts, "update_with_retry_async"):
        aggregate = await repository.get(aggregate_id, from_replica=from_replica and attempt == 1)
        outcome = command(aggregate)
        if isinstance(outcome, Awaitable):
            await outcome
        try:
            await repository.add(aggregate)
        except ExpectedVersionError:
            if attempt == attempts:
                raise
            import asyncio  # only after a conflict; an async caller has it loaded already

            await asyncio.sleep(_pause(attempt, max_delay))
        else:
            return aggregate
    raise AssertionError("unreachable")


def _attempts(repository: Any, attempts: int, name: str) -> range:
    """Attempt numbers from 1; raises `ValueError`, and `RuntimeError` in a unit of work."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if active_unit_of_work(repository.store) is not None:
        raise RuntimeError(f"{name} cannot retry inside a UnitOfWork on its store")
    return range(1, attempts + 1)


def _pause(attempt: int, max_delay: float) -> float:
    """Seconds to wait after losing attempt `attempt`: random, growing, at most `max_delay`."""
    import random  # only after a conflict: kept out of `import aggregen.runtime`

    return random.uniform(0, min(max_delay, 0.001 * 2**attempt))
