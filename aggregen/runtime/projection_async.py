"""Async exactly-once projections: the protocols, and `AsyncProjector` that runs them.

The async twin of `projection`: an `AsyncProjection` handles each message with an
`AsyncSession`, a connection inside the projection's transaction whose `execute` is
awaited (psycopg's `AsyncConnection` is one). An `AsyncProjector` reads a category
batch by batch and applies each batch and its position in one transaction of an
`AsyncProjectionTarget`, as `Projector` does: a task cancelled mid-batch rolls the
batch back, so no event is applied twice or skipped.

Targets: `AsyncPostgresProjectionTarget` and `AsyncSQLiteProjectionTarget` (the
SQLite stand-in for tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from .category import ConsumerGroup
from .causation import cause_in_effect
from .consumer import handler_failed, member_name
from .consumer_async import AsyncCategoryLoop
from .message import RecordedMessage
from .position_store import position_stream_name
from .store import AsyncEventStore

__all__ = [
    "AsyncCursor",
    "AsyncProjection",
    "AsyncProjectionTarget",
    "AsyncProjectionTransaction",
    "AsyncProjector",
    "AsyncSession",
]


class AsyncCursor(Protocol):
    """What an async session's `execute` returns: rows to fetch, awaited."""

    async def fetchone(self) -> Any:
        """The next row, or None."""

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""


class AsyncSession(Protocol):
    """A connection inside the projection's transaction: await SQL with `%s` placeholders."""

    async def execute(
        self, query: Any, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> AsyncCursor:
        """Run one statement with its parameters bound (never format values into SQL).

        Placeholders are psycopg's: `%s` with a sequence, `%(name)s` with a mapping.
        """


class AsyncProjection(Protocol):
    """Applies messages to a read model through the async session it is given."""

    async def handle(self, message: RecordedMessage, session: AsyncSession) -> None:
        """Apply one message; raising rolls back the whole batch."""


@dataclass(slots=True)
class AsyncProjectionTransaction:
    """An open transaction of an async target: its session and the projection's position.

    As `ProjectionTransaction`: the projector moves `position`, and the target stores
    it when the transaction commits.
    """

    session: AsyncSession
    position: int | None


class AsyncProjectionTarget(Protocol):
    """A database that holds read models and their projections' positions, awaited."""

    def transaction(self, name: str) -> AbstractAsyncContextManager[AsyncProjectionTransaction]:
        """Begin a transaction with projection `name`'s position locked; commit on exit.

        An exception inside, cancellation included, rolls everything back.
        """

    async def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction of its own, for setting up tables and reading the read model.

        Commits when the block ends, rolls back when it raises.
        """

    async def close(self) -> None:
        """Release the connection."""


class AsyncProjector(AsyncCategoryLoop):
    """Runs an async `projection` over `category` into `target`, exactly once per message.

    The settings and semantics of `Projector`: one transaction per batch, the
    position kept in the target under `{category}:position-{name}`, the next batch
    read while one is handled unless `read_ahead` is false. Raises
    `ConsumerError` when the projection fails (its batch is rolled back),
    `EventStoreError` when a database fails, `CancelledError` when cancelled (the
    open batch is rolled back).
    """

    def __init__(
        self,
        store: AsyncEventStore,
        category: str,
        projection: AsyncProjection,
        target: AsyncProjectionTarget,
        *,
        name: str,
        batch_size: int = 1000,
        poll_interval: float = 0.1,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
        read_ahead: bool = True,
    ) -> None:
        super().__init__(
            store,
            category,
            batch_size=batch_size,
            poll_interval=poll_interval,
            consumer_group=consumer_group,
            correlation=correlation,
            read_ahead=read_ahead,
        )
        self.projection = projection
        self.target = target
        self.name = member_name(name, consumer_group)
        self.position_name = position_stream_name(category, self.name)
        """The projection's row in the target, as `Projector.position_name`."""

    async def position(self) -> int | None:
        """The committed position of this projection, None before any."""
        return await self.target.position(self.position_name)

    async def _handle_batch(self) -> tuple[int, bool]:
        handle = self.projection.handle
        handled = 0
        async with self.target.transaction(self.position_name) as transaction:
            messages, last = self._handing_out(await self._read_batch(transaction.position))
            session = transaction.session
            stopping = self._stopping
            set_cause = cause_in_effect.set
            token = set_cause(None)  # restored after the batch; one set per message
            try:
                for message in messages:
                    set_cause(message)  # events the projection raises are caused by it
                    try:
                        await handle(message, session)
                    except Exception as error:
                        raise handler_failed(
                            f"projection {self.name!r}", self.projection, message, error
                        ) from error
                    handled += 1
                    transaction.position = message.global_position
                    if stopping.is_set():
                        return handled, True
            finally:
                cause_in_effect.reset(token)
        return handled, last
