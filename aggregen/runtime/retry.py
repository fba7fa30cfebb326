"""`update_with_retry`: load, change and store an aggregate, again on a version conflict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .aggregate import Aggregate
from .errors import ExpectedVersionError
from .repository import Repository
from .unit_of_work import active_unit_of_work

__all__ = ["update_with_retry"]

A = TypeVar("A", bound=Aggregate)


def update_with_retry(
    repository: Repository[A],
    aggregate_id: str,
    command: Callable[[A], object],
    *,
    attempts: int = 10,
    max_delay: float = 0.05,
) -> A:
    """Get the aggregate, run `command` on it and add it; on a conflict, start over.

    `command` must depend only on the aggregate it is given, since it may run up to
    `attempts` times, each time on a freshly loaded aggregate, with a short random
    pause (at most `max_delay` seconds) between attempts. Returns the stored
    aggregate. Raises the last `ExpectedVersionError` when every attempt lost,
    whatever `command` raises (the invariant it checks), and `RuntimeError` inside
    a `UnitOfWork` on the same store, where conflicts only appear at its end.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if active_unit_of_work(repository.store) is not None:
        raise RuntimeError("update_with_retry cannot retry inside a UnitOfWork on its store")
    for attempt in range(1, attempts + 1):
        aggregate = repository.get(aggregate_id)
        command(aggregate)
        try:
            repository.add(aggregate)
        except ExpectedVersionError:
            if attempt == attempts:
                raise
            import random  # only after a conflict: kept out of `import aggregen.runtime`

            time.sleep(random.uniform(0, min(max_delay, 0.001 * 2**attempt)))
        else:
            return aggregate
    raise AssertionError("unreachable")
