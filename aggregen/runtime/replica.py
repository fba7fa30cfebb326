"""Reads from a streaming replica: which reads a replica may serve, for every store.

The rule (one place for the sync and async MessageDB stores, `Routes`):

- Category reads (`read_category`: consumers, projections) go to the replica when
  the store has one. A replica is behind by its lag: a consumer sees a message a
  little later, never out of order and never skipped (a replica replays the
  primary's commits in their order).
- Stream reads (`read`, `read_last`, `stream_version`, and so a repository's `get`,
  `history` and `exists`) go to the primary, unless the application asks for the
  replica (`get(..., from_replica=True)`, which reads through `replica_reads`).
  An aggregate read from a lagging replica may be stale; a write after it still
  carries the version it was read at, so it fails with `ExpectedVersionError`
  rather than overwriting anything.
- Everything a write depends on stays on the primary: appends and their expected
  version checks, the look-up of an append's message ids after a conflict (what
  makes a retried commit idempotent), and a consumer's own position (its
  `PositionStore` reads `read_last` on the store): a position read from a lagging
  replica would replay more than `position_update_interval` messages after a restart.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

__all__ = ["Routes", "replica_reads"]

P = TypeVar("P")
S = TypeVar("S")


class Routes(Generic[P]):
    """The pool (`P`, a sync or async connection pool) that serves each kind of operation.

    `writes` is None in a view of the replica (`replica_reads`), which appends refuse.
    """

    __slots__ = ("categories", "owned", "streams", "writes")

    def __init__(self, writes: P | None, streams: P, categories: P, owned: tuple[P, ...]) -> None:
        self.writes = writes
        self.streams = streams
        self.categories = categories
        self.owned = owned
        """The pools that `close` closes: both for the store, none for a view."""

    @classmethod
    def of(cls, primary: P, replica: P | None) -> Routes[P]:
        """The store's routes: category reads to the replica (if any), the rest to the primary."""
        if replica is None:
            return cls(primary, primary, primary, (primary,))
        return cls(primary, primary, replica, (primary, replica))

    def replica_reads(self) -> Routes[P]:
        """The routes of a read-only view whose stream reads go to the replica too."""
        return Routes(None, self.categories, self.categories, ())


def replica_reads(store: S) -> S:
    """The view of `store` whose reads go to its replica; `store` itself when it has none.

    A store with a replica offers `replica_reads()`; the in-memory store has no
    replica, and its own reads are as fresh as a replica could be.
    """
    view: Any = getattr(store, "replica_reads", None)
    return store if view is None else view()
