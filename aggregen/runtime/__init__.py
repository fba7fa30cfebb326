"""The aggregen runtime: what generated code and applications import.

Only `MessageDBEventStore` and `PostgresProjectionTarget` need psycopg (the
`messagedb` extra), and `SQLiteProjectionTarget` sqlite3. They, and the read side
(consumers, projections, handlers, consumer groups, position stores), are imported
on first use, so that `import aggregen.runtime` stays cheap for an application
that only writes. Generated code imports `aggregen.runtime.support` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .aggregate import Aggregate
from .causation import Cause, caused_by, correlated, current_cause
from .config import set_snapshot_threshold, snapshot_threshold
from .connect import connect, connect_async
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
from .extras import import_runtime_module
from .message import NewMessage, RecordedMessage, StreamWrite
from .repository import Repository
from .store import AsyncEventStore, EventStore
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from .category import ConsumerGroup, stream_id
    from .consumer import Consumer, ConsumerError, MessageHandler
    from .consumer_async import AsyncConsumer, AsyncMessageHandler
    from .decoding import UnknownEventTypeError
    from .handler import EventHandler
    from .handler_async import AsyncEventHandler
    from .jetstream import AsyncJetStreamEventStore, JetStreamEventStore
    from .memory import AsyncInMemoryEventStore, InMemoryEventStore
    from .messagedb import MessageDBEventStore
    from .messagedb_async import AsyncMessageDBEventStore
    from .position_store import AsyncPositionStore, PositionStore
    from .projection import Projection, ProjectionTarget, ProjectionTransaction, Projector, Session
    from .projection_async import (
        AsyncProjection,
        AsyncProjectionTarget,
        AsyncProjectionTransaction,
        AsyncProjector,
        AsyncSession,
    )
    from .projection_postgres import PostgresProjectionTarget
    from .projection_postgres_async import AsyncPostgresProjectionTarget
    from .projection_sqlite import AsyncSQLiteProjectionTarget, SQLiteProjectionTarget
    from .repository_async import AsyncRepository
    from .retry import update_with_retry, update_with_retry_async
    from .unit_of_work import AsyncUnitOfWork


__all__ = [
    "Aggregate",
    "AggregateNotFoundError",
    "AggregenError",
    "AsyncConsumer",
    "AsyncEventHandler",
    "AsyncEventStore",
    "AsyncInMemoryEventStore",
    "AsyncJetStreamEventStore",
    "AsyncMessageDBEventStore",
    "AsyncMessageHandler",
    "AsyncPositionStore",
    "AsyncPostgresProjectionTarget",
    "AsyncProjection",
    "AsyncProjectionTarget",
    "AsyncProjectionTransaction",
    "AsyncProjector",
    "AsyncRepository",
    "AsyncSQLiteProjectionTarget",
    "AsyncSession",
    "AsyncUnitOfWork",
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
    "JetStreamEventStore",
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
    "UnknownEventTypeError",
    "ValidationError",
    "caused_by",
    "connect",
    "connect_async",
    "correlated",
    "current_cause",
    "set_snapshot_threshold",
    "snapshot_threshold",
    "stream_id",
    "update_with_retry",
    "update_with_retry_async",
]


_LAZY = {
    "AsyncConsumer": "consumer_async",
    "AsyncMessageHandler": "consumer_async",
    "AsyncPositionStore": "position_store",
    "AsyncPostgresProjectionTarget": "projection_postgres_async",
    "AsyncProjection": "projection_async",
    "AsyncProjectionTarget": "projection_async",
    "AsyncProjectionTransaction": "projection_async",
    "AsyncProjector": "projection_async",
    "AsyncSQLiteProjectionTarget": "projection_sqlite",
    "AsyncSession": "projection_async",
    "Consumer": "consumer",
    "ConsumerError": "consumer",
    "ConsumerGroup": "category",
    "EventHandler": "handler",
    "InMemoryEventStore": "memory",
    "AsyncInMemoryEventStore": "memory",
    "AsyncEventHandler": "handler_async",
    "AsyncMessageDBEventStore": "messagedb_async",
    "AsyncJetStreamEventStore": "jetstream",
    "JetStreamEventStore": "jetstream",
    "AsyncRepository": "repository_async",
    "AsyncUnitOfWork": "unit_of_work",
    "MessageDBEventStore": "messagedb",
    "MessageHandler": "consumer",
    "PositionStore": "position_store",
    "PostgresProjectionTarget": "projection_postgres",
    "Projection": "projection",
    "ProjectionTarget": "projection",
    "ProjectionTransaction": "projection",
    "Projector": "projection",
    "SQLiteProjectionTarget": "projection_sqlite",
    "Session": "projection",
    "stream_id": "category",
    "UnknownEventTypeError": "decoding",
    "update_with_retry": "retry",
    "update_with_retry_async": "retry",
}
"""Public names imported from their module on first use (PEP 562)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_runtime_module(module, name), name)
    globals()[name] = value
    return value
