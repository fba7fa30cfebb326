"""`Repository`: stores an aggregate's new events and rebuilds aggregates from their streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from .aggregate import Aggregate
from .config import check_threshold, snapshot_threshold
from .decoding import UnknownEventTypeError, caused_metadata, decode_event, upcast
from .errors import AggregateNotFoundError, StreamDataError
from .event import Event, Metadata, read_schema_version
from .message import NewMessage, RecordedMessage, StreamWrite, uuid4_string
from .replica import replica_reads
from .store import EventStore
from .stream_name import snapshot_stream_name
from .unit_of_work import active_unit_of_work

__all__ = ["Repository", "commit"]

A = TypeVar("A", bound=Aggregate)

if TYPE_CHECKING:  # for annotations only: a Protocol class costs time at import
    import logging

    class _HasThreshold(Protocol):
        def snapshot_threshold(self) -> int: ...

    R = TypeVar("R", bound=_HasThreshold)


def _logger() -> logging.Logger:
    """The `aggregen` logger; logging is imported when something is first logged.

    A library's logger gets a NullHandler: the application decides where records go,
    and nothing reaches stderr through `logging.lastResort` when it configured none.
    """
    import logging

    logger = logging.getLogger("aggregen")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


SNAPSHOT_TYPE = "Snapshot"

_new_tuple = tuple.__new__
"""Builds a named tuple without its Python-level `__new__`: cheaper per event."""


class Repository(Generic[A]):
    """Adds and gets aggregates of one class in one event store.

    `snapshot_threshold` overrides the aggregate class's and the global setting.
    """

    def __init__(
        self,
        aggregate_class: type[A],
        store: EventStore,
        *,
        snapshot_threshold: int | None = None,
    ) -> None:
        self.aggregate_class = aggregate_class
        self.store = store
        self._threshold = (
            None
            if snapshot_threshold is None
            else check_threshold(snapshot_threshold, "snapshot_threshold")
        )

    def snapshot_threshold(self) -> int:
        """Events between snapshots for this repository; 0 means no snapshots."""
        return effective_threshold(self._threshold, self.aggregate_class)

    def add(self, aggregate: A) -> None:
        """Store the aggregate's pending events.

        Inside a `UnitOfWork` on this repository's store they are written when the
        unit commits; otherwise at once. Raises `ExpectedVersionError` when the
        stream moved on since the aggregate was loaded; nothing is stored then.
        """
        check_stored_class(self, aggregate)
        unit = active_unit_of_work(self.store)
        if unit is not None:
            unit.register(self, aggregate)
        else:
            commit(self.store, [(self, aggregate)])

    def get(
        self, aggregate_id: str, *, version: int | None = None, from_replica: bool = False
    ) -> A:
        """The aggregate's state, from its newest snapshot and the events after it.

        With `version`, the state as of that stream position (0 is after the first
        event): only a snapshot at or below it is used. With `from_replica`, the
        snapshot and the events are read from the store's replica, if it has one:
        the state may be behind by the replica's lag, and a write after it then fails
        with `ExpectedVersionError` (by default `get` reads the primary). Raises
        `AggregateNotFoundError` for an id with no events, `ValueError` for a
        version below 0 or beyond the stream's end, `StreamDataError` for a stored
        event of unknown type, with data that does not fit its class, or at a
        position that does not follow the one before (a gap). A snapshot that does
        not fit is ignored (and logged): the stream is replayed instead.
        """
        check_version(version)
        store = replica_reads(self.store) if from_replica else self.store
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        snapshot = None
        if self.snapshot_threshold():
            message = self._read_snapshot(store, aggregate_id)
            snapshot = snapshot_from(cls, aggregate_id, message, version)
        messages: Iterator[RecordedMessage] | None = None
        if snapshot is not None:
            # Read from the snapshot's own version: its event must be there.
            messages = iter(store.read(stream, snapshot[0]._version))
            if not snapshot_matches(stream, *snapshot, next(messages, None)):
                snapshot = None
        if snapshot is None or messages is None:
            aggregate = cls._blank(aggregate_id)
            messages = iter(store.read(stream))
        else:
            aggregate = snapshot[0]
        _replay(aggregate, stream, messages if version is None else _up_to(messages, version))
        return rehydrated(aggregate, stream, version)

    def exists(self, aggregate_id: str, *, from_replica: bool = False) -> bool:
        """Whether the aggregate has any event stored (`from_replica`: as `get`)."""
        store = replica_reads(self.store) if from_replica else self.store
        return store.stream_version(self.aggregate_class.stream_name(aggregate_id)) >= 0

    def history(self, aggregate_id: str, *, from_replica: bool = False) -> list[Event]:
        """The aggregate's events, oldest first: typed, upcast, with their metadata.

        `from_replica` reads them from the store's replica, as `get` does. Raises
        `AggregateNotFoundError` for an id with no events, `StreamDataError` for a
        stored event that does not decode.
        """
        store = replica_reads(self.store) if from_replica else self.store
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        events = [decode_event(cls.__events__, cls.__name__, m) for m in store.read(stream)]
        return found_history(cls, aggregate_id, stream, events)

    def _read_snapshot(self, store: EventStore, aggregate_id: str) -> RecordedMessage | None:
        """The newest snapshot message; None (logged) when there is none or it is unreadable."""
        stream = snapshot_stream_name(self.aggregate_class.category(), aggregate_id)
        try:
            return store.read_last(stream)
        except StreamDataError as error:
            _logger().warning("ignoring snapshot %s: %s", stream, error)
            return None

    def _write_snapshot(self, aggregate: Aggregate, event_id: str) -> None:
        """Store the aggregate's state, taken after its event `event_id`; failures are logged."""
        try:  # taking the state may fail too (a field a stream never set): only logged
            write = snapshot_write(self.aggregate_class, aggregate, event_id)
            self.store.append([write])
        except Exception:
            _logger().warning("could not write a snapshot of %s", aggregate.id, exc_info=True)


# -- What the sync and async repositories share: every step that is not I/O. ----------


def effective_threshold(own: int | None, cls: type[Aggregate]) -> int:
    """The snapshot threshold: the repository's own, else the class's, else the global one."""
    if own is not None:
        return own
    declared = cls.__snapshot_threshold__
    if declared is not None:
        return check_threshold(declared, f"{cls.__name__}.__snapshot_threshold__")
    return snapshot_threshold()


def check_stored_class(repository: Any, aggregate: object) -> None:
    """Raise `TypeError` unless `aggregate` is of the repository's aggregate class."""
    if not isinstance(aggregate, repository.aggregate_class):
        raise TypeError(
            f"{type(repository).__name__} stores {repository.aggregate_class.__name__}, "
            f"not {type(aggregate).__name__}"
        )


def check_version(version: object) -> None:
    """Raise `ValueError` unless `version` is None or a stream position (an int >= 0)."""
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 0
    ):
        raise ValueError(f"a version is a stream position of at least 0, not {version!r}")


def snapshot_from(
    cls: type[A], aggregate_id: str, message: RecordedMessage | None, version: int | None
) -> tuple[A, str] | None:
    """The aggregate from a snapshot message and the id of the event it was taken after.

    None, logged once, when there is no snapshot, it does not fit, or it was taken
    after `version`: a snapshot is a cache, so whatever is wrong with it means a
    replay, never an error.
    """
    if message is None:
        return None
    stream = message.stream_name
    data = message.data
    if data.get("shape") != cls._snapshot_fingerprint():
        _logger().info("ignoring snapshot %s@%d of another shape", stream, message.position)
        return None
    try:
        snapshot_version, event_id = data["version"], data["event"]
        if (
            isinstance(snapshot_version, bool)
            or not isinstance(snapshot_version, int)
            or snapshot_version < 0
        ):
            raise ValueError(f"bad version {snapshot_version!r}")
        if not isinstance(event_id, str):
            raise ValueError(f"bad event id {event_id!r}")
        if version is not None and snapshot_version > version:
            return None  # taken after the version asked for
        aggregate = cls._blank(aggregate_id)
        aggregate._restore_state(data["state"])
        aggregate._version = snapshot_version
    except Exception as error:  # whatever fails, the stream is replayed
        _logger().warning("ignoring snapshot %s@%d: %r", stream, message.position, error)
        return None
    return aggregate, event_id


def snapshot_matches(
    stream: str, aggregate: Aggregate, event_id: str, first: RecordedMessage | None
) -> bool:
    """Whether the stream holds the snapshot's event at the snapshot's version (logged if not).

    A snapshot claiming a version beyond the stream's end, or left from another
    history of the stream, is found out without a second query.
    """
    version = aggregate._version
    if first is None or first.position != version or first.id != event_id:
        _logger().warning(
            "ignoring snapshot of %s at version %d: the stream holds another event there",
            stream,
            version,
        )
        return False
    return True


def rehydrated(aggregate: A, stream: str, version: int | None) -> A:
    """`aggregate` after its replay; raises when it has no events or lacks `version`."""
    if aggregate._version < 0:
        raise AggregateNotFoundError(type(aggregate).__name__, aggregate.id, stream)
    if version is not None and aggregate._version < version:
        raise ValueError(
            f"{stream!r} is at version {aggregate._version}: it has no version {version}"
        )
    return aggregate


def found_history(
    cls: type[Aggregate], aggregate_id: str, stream: str, events: list[Event]
) -> list[Event]:
    """`events`, or `AggregateNotFoundError` when there are none."""
    if not events:
        raise AggregateNotFoundError(cls.__name__, aggregate_id, stream)
    return events


def snapshot_write(cls: type[Aggregate], aggregate: Aggregate, event_id: str) -> StreamWrite:
    """The write that stores the aggregate's state as a snapshot after event `event_id`."""
    data = {
        "version": aggregate._version,
        "event": event_id,
        "shape": cls._snapshot_fingerprint(),
        "state": aggregate._snapshot_state(),
    }
    message = NewMessage(uuid4_string(), SNAPSHOT_TYPE, data, None)
    return StreamWrite(snapshot_stream_name(cls.category(), aggregate.id), None, [message])


def _up_to(messages: Iterable[RecordedMessage], version: int) -> Iterator[RecordedMessage]:
    """The messages up to stream position `version`; stops reading there."""
    for message in messages:
        if message.position > version:
            return
        yield message


def _replay(aggregate: Aggregate, stream: str, messages: Iterable[RecordedMessage]) -> None:
    cls = type(aggregate)
    # The apply_<event> method itself where `apply` would only dispatch to it.
    readers = {
        type_name: (
            event_class.from_data,
            event_class.__schema_version__,
            event_class,
            cls._apply_function(event_class),
        )
        for type_name, event_class in cls.__events__.items()
    }
    new_tuple = _new_tuple  # the Metadata named tuple without its Python __new__
    version = aggregate._version
    # Unpacked rather than read by attribute: a named tuple's attributes cost a call each.
    for (
        message_id,
        stream_name,
        type_name,
        position,
        global_position,
        data,
        extra,
        time,
    ) in messages:
        if position != version + 1:
            raise StreamDataError(
                stream, position, f"a gap: the event before it is at position {version}"
            )
        reader = readers.get(type_name)
        if reader is None:
            raise UnknownEventTypeError(
                stream, position, f"unknown event type {type_name!r} for {cls.__name__}"
            )
        from_data, current, event_class, apply = reader
        if extra is None:
            extra = _NO_METADATA
        schema_version = extra.get("schemaVersion")
        try:
            if schema_version.__class__ is not int:  # Eventide writes "1", or nothing
                schema_version = read_schema_version(schema_version)
            if schema_version != current:
                data = upcast(event_class, data, schema_version)
            if not extra or (len(extra) == 1 and "schemaVersion" in extra):  # most events
                metadata = new_tuple(
                    Metadata,
                    (
                        message_id,
                        time,
                        stream_name,
                        position,
                        global_position,
                        schema_version,
                        None,  # no causation: literal Nones build the tuple fastest
                        None,
                        None,
                        None,
                        None,
                        None,
                    ),
                )
            else:
                metadata = caused_metadata(
                    message_id, time, stream_name, position, global_position, schema_version, extra
                )
            event = from_data(data, metadata)
        except KeyError as error:
            raise StreamDataError(
                stream, position, f"{type_name} lacks its field {error}"
            ) from error
        except Exception as error:  # whatever decoding or an upcaster raised: not this class
            raise StreamDataError(
                stream, position, f"{type_name} does not fit its class: {error}"
            ) from error
        apply(aggregate, event)
        aggregate._version = version = position


_NO_METADATA: dict[str, Any] = {}


def _new_message(event: Event) -> NewMessage:
    metadata = event.metadata
    assert metadata is not None, "pending events carry metadata"
    extra: dict[str, Any] = {"schemaVersion": metadata.schema_version}
    if metadata.correlation_id is not None:
        extra["correlationId"] = metadata.correlation_id
    if metadata.causation_id is not None:
        extra["causationId"] = metadata.causation_id
    if metadata.causation_stream_name is not None:
        extra["causationMessageStreamName"] = metadata.causation_stream_name
        extra["causationMessagePosition"] = metadata.causation_position
        extra["causationMessageGlobalPosition"] = metadata.causation_global_position
    if metadata.correlation_stream_name is not None:
        extra["correlationStreamName"] = metadata.correlation_stream_name
    # the named tuple without its Python-level __new__
    return _new_tuple(NewMessage, (metadata.id, event.type_name(), event.to_data(), extra))


def pending_writes(entries: Sequence[tuple[Any, Aggregate]]) -> list[StreamWrite]:
    """One write per aggregate with pending events, each expecting its loaded version."""
    writes = []
    for _, aggregate in entries:
        pending = aggregate._pending
        if pending:
            stream = aggregate._stream_name()
            expected = aggregate._version - len(pending)
            writes.append(StreamWrite(stream, expected, [_new_message(e) for e in pending]))
    return writes


def committed(entries: Sequence[tuple[R, Aggregate]]) -> list[tuple[R, Aggregate, str]]:
    """Clear the stored aggregates' pending events; return those due a snapshot.

    Each comes with its repository and the id of its last event: a snapshot is due
    when the commit crossed a multiple of the repository's threshold.
    """
    due = []
    for repository, aggregate in entries:
        count = len(aggregate._pending)
        if not count:
            continue
        last = aggregate._pending[-1].metadata
        aggregate._pending.clear()
        threshold = repository.snapshot_threshold()
        if (
            threshold
            and (aggregate._version + 1) // threshold
            > (aggregate._version + 1 - count) // threshold
        ):
            assert last is not None, "pending events carry metadata"
            due.append((repository, aggregate, last.id))
    return due


def commit(store: EventStore, entries: list[tuple[Repository[Any], Aggregate]]) -> None:
    """Write the pending events of every aggregate in one atomic append.

    On success the aggregates' pending events are cleared and snapshots written where
    due (a failed snapshot is logged, never raised). On failure the error propagates
    and the aggregates keep their versions and pending events.
    """
    writes = pending_writes(entries)
    if not writes:
        return
    store.append(writes)
    for repository, aggregate, event_id in committed(entries):
        repository._write_snapshot(aggregate, event_id)
