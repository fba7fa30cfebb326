"""The aggregen runtime: what generated code and applications import.

Only `MessageDBEventStore` needs psycopg; it is imported on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .aggregate import Aggregate
from .config import set_snapshot_threshold, snapshot_threshold
from .connect import connect
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
from .memory import InMemoryEventStore
from .message import NewMessage, RecordedMessage, StreamWrite
from .repository import Repository
from .retry import update_with_retry
from .store import EventStore
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from .messagedb import MessageDBEventStore

# A library's loggers get a NullHandler: the application decides where records go, and
# nothing reaches stderr through `logging.lastResort` when it configured no logging.
logging.getLogger("aggregen").addHandler(logging.NullHandler())

__all__ = [
    "Aggregate",
    "AggregateNotFoundError",
    "AggregenError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "DuplicateMessageError",
    "Event",
    "EventStore",
    "EventStoreError",
    "ExpectedVersionError",
    "InMemoryEventStore",
    "MessageDBEventStore",
    "Metadata",
    "NewMessage",
    "RecordedMessage",
    "Repository",
    "StreamDataError",
    "StreamExistsError",
    "StreamNameError",
    "StreamWrite",
    "UnitOfWork",
    "ValidationError",
    "connect",
    "set_snapshot_threshold",
    "snapshot_threshold",
    "update_with_retry",
]


def __getattr__(name: str) -> Any:
    if name == "MessageDBEventStore":
        from .messagedb import MessageDBEventStore

        return MessageDBEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
