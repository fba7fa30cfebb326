"""Exactly-once projections: a read model and its position change in one transaction.

A `Projector` reads a category batch by batch. For each batch it opens a transaction
on the projection's own database (a `ProjectionTarget`), reads the projection's
position there (locked, so two instances of one projection never interleave), hands
each message and the transaction's `Session` to the projection, and stores the new
position before the transaction commits. A crash at any moment rolls back both the
read model's changes and the position: no event is applied twice or skipped.

Targets: `PostgresProjectionTarget` (the application's PostgreSQL, which need not be
the message store's) and `SQLiteProjectionTarget` (SQLite in memory, a stand-in for
tests that runs the same SQL for the common cases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from .category import ConsumerGroup
from .causation import cause_in_effect
from .consumer import CategoryLoop, handler_failed, member_name
from .message import RecordedMessage
from .position_store import position_stream_name
from .store import EventStore

__all__ = ["Projection", "ProjectionTarget", "ProjectionTransaction", "Projector", "Session"]


class Cursor(Protocol):
    """What a session's `execute` returns: rows to fetch."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""


class Session(Protocol):
    """A connection inside the projection's transaction: run SQL with `%s` placeholders."""

    def execute(
        self, query: Any, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> Cursor:
        """Run one statement with its parameters bound (never format values into SQL).

        Placeholders are psycopg's: `%s` with a sequence, `%(name)s` with a mapping.
        """


class Projection(Protocol):
    """Applies messages to a read model through the session it is given."""

    def handle(self, message: RecordedMessage, session: Session) -> None:
        """Apply one message; raising rolls back the whole batch."""


@dataclass(slots=True)
class ProjectionTransaction:
    """An open transaction of a target: its session and the projection's position.

    `position` is the global position of the last message applied (None before any);
    the projector moves it, and the target stores it when the transaction commits.
    """

    session: Session
    position: int | None


class ProjectionTarget(Protocol):
    """A database that holds read models and their projections' positions."""

    def transaction(self, name: str) -> AbstractContextManager[ProjectionTransaction]:
        """Begin a transaction with projection `name`'s position locked; commit on exit.

        An exception inside rolls everything back, position included.
        """

    def position(self, name: str) -> int | None:
        """The committed position of projection `name`, None before any."""

    def session(self) -> AbstractContextManager[Session]:
        """A transaction of its own, for setting up tables and reading the read model.

        Commits when the block ends, rolls back when it raises.
        """

    def close(self) -> None:
        """Release the connection."""


class Projector(CategoryLoop):
    """Runs `projection` over `category` into `target`, exactly once per message.

    One transaction per batch of `batch_size` messages. The projection's position is
    kept in the target under `{category}:position-{name}` (`position_name`); with
    `consumer_group`, `{name}+{member}of{size}` is the name. The next batch is read
    while one is handled, unless `read_ahead` is false. Raises `ConsumerError` when the
    projection fails (its batch is rolled back), `EventStoreError` when a database
    fails.
    """

    def __init__(
        self,
        store: EventStore,
        category: str,
        projection: Projection,
        target: ProjectionTarget,
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
        """The projection's row in the target: `{category}:position-{name}`, so that two
        projections of one name on two categories never share a position."""

    @property
    def position(self) -> int | None:
        """The committed position of this projection, None before any."""
        return self.target.position(self.position_name)

    def _handle_batch(self) -> tuple[int, bool]:
        handle = self.projection.handle
        handled = 0
        with self.target.transaction(self.position_name) as transaction:
            messages, last = self._handing_out(self._read_batch(transaction.position))
            session = transaction.session
            set_cause = cause_in_effect.set
            token = set_cause(None)  # restored after the batch; one set per message
            try:
                for message in messages:
                    set_cause(message)  # events the projection raises are caused by it
                    try:
                        handle(message, session)
                    except Exception as error:
                        raise handler_failed(
                            f"projection {self.name!r}", self.projection, message, error
                        ) from error
                    handled += 1
                    transaction.position = message.global_position
                    if self._stopping.is_set():
                        return handled, True
            finally:
                cause_in_effect.reset(token)
        return handled, last
