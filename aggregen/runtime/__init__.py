"""The aggregen runtime: what generated code and applications import.

Only `MessageDBEventStore` and `PostgresProjectionTarget` need psycopg, and
`SQLiteProjectionTarget` sqlite3; each is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .aggregate import Aggregate
from .category import ConsumerGroup, stream_id
from .causation import Cause, caused_by, correlated, current_cause
from .config import set_snapshot_threshold, snapshot_threshold
from .connect import connect
from .consumer import Consumer, ConsumerError, MessageHandler
from .errors import (
    AggregateNotFoundError,
    AggregenError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    DuplicateMessageError,
    EventStoreError,
    ExpectedVersionError,
    StreamDataError,
    StreamExistsError,
    StreamNameError,
    ValidationError,
)
from .event import Event, Metadata
from .handler import EventHandler
from .memory import AsyncInMemoryEventStore, InMemoryEventStore
from .message import NewMessage, RecordedMessage, StreamWrite
from .position_store import PositionStore
from .projection import Projection, ProjectionTarget, ProjectionTransaction, Projector, Session
from .repository import Repository
from .retry import update_with_retry
from .store import AsyncEventStore, EventStore
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from .messagedb import MessageDBEventStore
    from .messagedb_async import AsyncMessageDBEventStore
    from .projection_postgres import PostgresProjectionTarget
    from .projection_sqlite import SQLiteProjectionTarget

__all__ = [
    "Aggregate",
    "AggregateNotFoundError",
    "AggregenError",
    "AsyncEventStore",
    "AsyncInMemoryEventStore",
    "AsyncMessageDBEventStore",
    "Cause",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "Consumer",
    "ConsumerError",
    "ConsumerGroup",
    "DuplicateMessageError",
    "Event",
    "EventHandler",
    "EventStore",
    "EventStoreError",
    "ExpectedVersionError",
    "InMemoryEventStore",
    "MessageDBEventStore",
    "MessageHandler",
    "Metadata",
    "NewMessage",
    "PositionStore",
    "PostgresProjectionTarget",
    "Projection",
    "ProjectionTarget",
    "ProjectionTransaction",
    "Projector",
    "RecordedMessage",
    "Repository",
    "SQLiteProjectionTarget",
    "Session",
    "StreamDataError",
    "StreamExistsError",
    "StreamNameError",
    "StreamWrite",
    "UnitOfWork",
    "ValidationError",
    "caused_by",
    "connect",
    "correlated",
    "current_cause",
    "set_snapshot_threshold",
    "snapshot_threshold",
    "stream_id",
    "update_with_retry",
]


def __getattr__(name: str) -> Any:
    if name == "AsyncMessageDBEventStore":
        from .messagedb_async import AsyncMessageDBEventStore

        return AsyncMessageDBEventStore
    if name == "MessageDBEventStore":
        from .messagedb import MessageDBEventStore

        return MessageDBEventStore
    if name == "PostgresProjectionTarget":
        from .projection_postgres import PostgresProjectionTarget

        return PostgresProjectionTarget
    if name == "SQLiteProjectionTarget":
        from .projection_sqlite import SQLiteProjectionTarget

        return SQLiteProjectionTarget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
