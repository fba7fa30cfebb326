"""`Repository`: stores an aggregate's new events and rebuilds aggregates from their streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .aggregate import Aggregate
from .config import check_threshold, snapshot_threshold
from .decoding import decode_event
from .errors import AggregateNotFoundError, StreamDataError
from .event import Event, Metadata
from .message import NewMessage, RecordedMessage, StreamWrite, uuid4_string
from .store import EventStore
from .stream_name import snapshot_stream_name
from .unit_of_work import active_unit_of_work

__all__ = ["Repository", "commit"]

A = TypeVar("A", bound=Aggregate)

if TYPE_CHECKING:
    import logging


def _logger() -> logging.Logger:
    """The `aggregen` logger; logging is imported when something is first logged."""
    import logging

    return logging.getLogger("aggregen")


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
        if self._threshold is not None:
            return self._threshold
        own = self.aggregate_class.__snapshot_threshold__
        if own is not None:
            return check_threshold(own, f"{self.aggregate_class.__name__}.__snapshot_threshold__")
        return snapshot_threshold()

    def add(self, aggregate: A) -> None:
        """Store the aggregate's pending events.

        Inside a `UnitOfWork` on this repository's store they are written when the
        unit commits; otherwise at once. Raises `ExpectedVersionError` when the
        stream moved on since the aggregate was loaded; nothing is stored then.
        """
        if not isinstance(aggregate, self.aggregate_class):
            raise TypeError(
                f"{type(self).__name__} stores {self.aggregate_class.__name__}, "
                f"not {type(aggregate).__name__}"
            )
        unit = active_unit_of_work(self.store)
        if unit is not None:
            unit.register(self, aggregate)
        else:
            commit(self.store, [(self, aggregate)])

    def get(self, aggregate_id: str, *, version: int | None = None) -> A:
        """The aggregate's state, from its newest snapshot and the events after it.

        With `version`, the state as of that stream position (0 is after the first
        event): only a snapshot at or below it is used. Raises
        `AggregateNotFoundError` for an id with no events, `ValueError` for a
        version below 0 or beyond the stream's end, `StreamDataError` for a stored
        event of unknown type or with data that does not fit its class.
        """
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 0
        ):
            raise ValueError(f"a version is a stream position of at least 0, not {version!r}")
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        aggregate = self._from_snapshot(aggregate_id) if self.snapshot_threshold() else None
        if aggregate is None or (version is not None and aggregate._version > version):
            aggregate = cls._blank(aggregate_id)
        messages: Iterable[RecordedMessage] = self.store.read(stream, aggregate._version + 1)
        if version is not None:
            messages = _up_to(messages, version)
        _replay(aggregate, stream, messages)
        if aggregate._version < 0:
            raise AggregateNotFoundError(cls.__name__, aggregate_id, stream)
        if version is not None and aggregate._version < version:
            raise ValueError(
                f"{stream!r} is at version {aggregate._version}: it has no version {version}"
            )
        return aggregate

    def exists(self, aggregate_id: str) -> bool:
        """Whether the aggregate has any event stored."""
        return self.store.stream_version(self.aggregate_class.stream_name(aggregate_id)) >= 0

    def history(self, aggregate_id: str) -> list[Event]:
        """The aggregate's events, oldest first: typed, upcast, with their metadata.

        Raises `AggregateNotFoundError` for an id with no events, `StreamDataError`
        for a stored event that does not decode.
        """
        cls = self.aggregate_class
        stream = cls.stream_name(aggregate_id)
        events = [decode_event(cls.__events__, cls.__name__, m) for m in self.store.read(stream)]
        if not events:
            raise AggregateNotFoundError(cls.__name__, aggregate_id, stream)
        return events

    def _from_snapshot(self, aggregate_id: str) -> A | None:
        cls = self.aggregate_class
        stream = snapshot_stream_name(cls.category(), aggregate_id)
        message = self.store.read_last(stream)
        if message is None:
            return None
        data = message.data
        if data.get("shape") != cls._state_shape():
            _logger().info("ignoring snapshot %s@%d of another shape", stream, message.position)
            return None
        try:
            version = data["version"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise ValueError(f"bad version {version!r}")
            aggregate = cls._blank(aggregate_id)
            aggregate._restore_state(data["state"])
            aggregate._version = version
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            _logger().warning("ignoring snapshot %s@%d: %s", stream, message.position, error)
            return None
        return aggregate

    def _write_snapshot(self, aggregate: Aggregate) -> None:
        cls = self.aggregate_class
        data = {
            "version": aggregate._version,
            "shape": cls._state_shape(),
            "state": aggregate._snapshot_state(),
        }
        message = NewMessage(uuid4_string(), SNAPSHOT_TYPE, data, None)
        stream = snapshot_stream_name(cls.category(), aggregate.id)
        try:
            self.store.append([StreamWrite(stream, None, [message])])
        except Exception:
            _logger().warning("could not write snapshot of %s", stream, exc_info=True)


def _up_to(messages: Iterable[RecordedMessage], version: int) -> Iterator[RecordedMessage]:
    """The messages up to stream position `version`; stops reading there."""
    for message in messages:
        if message.position > version:
            return
        yield message


def _replay(aggregate: Aggregate, stream: str, messages: Iterable[RecordedMessage]) -> None:
    cls = type(aggregate)
    readers = {
        type_name: (event_class.from_data, event_class.__schema_version__, event_class)
        for type_name, event_class in cls.__events__.items()
    }
    apply = aggregate.apply
    new_tuple = _new_tuple  # the Metadata named tuple without its Python __new__
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
        reader = readers.get(type_name)
        if reader is None:
            raise StreamDataError(
                stream, position, f"unknown event type {type_name!r} for {cls.__name__}"
            )
        from_data, current, event_class = reader
        if extra is None:
            extra = _NO_METADATA
        schema_version = extra.get("schemaVersion", 1)
        try:
            if schema_version != current:
                data = _upcast(event_class, data, schema_version)
            metadata = new_tuple(
                Metadata,
                (
                    message_id,
                    time,
                    stream_name,
                    position,
                    global_position,
                    schema_version,
                    extra.get("correlationId"),
                    extra.get("causationId"),
                    extra.get("causationMessageStreamName"),
                    extra.get("causationMessagePosition"),
                    extra.get("causationMessageGlobalPosition"),
                    extra.get("correlationStreamName"),
                ),
            )
            event = from_data(data, metadata)
        except KeyError as error:
            raise StreamDataError(
                stream, position, f"{type_name} lacks its field {error}"
            ) from error
        except (TypeError, ValueError, AttributeError) as error:
            raise StreamDataError(
                stream, position, f"{type_name} does not fit its class: {error}"
            ) from error
        apply(event)
        aggregate._version = position


_NO_METADATA: dict[str, Any] = {}


def _upcast(event_class: type[Event], data: dict[str, Any], version: object) -> dict[str, Any]:
    current = event_class.__schema_version__
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"bad schema version {version!r}")
    if version > current:
        raise ValueError(
            f"schema version {version} is newer than {event_class.__name__}'s {current}: "
            "this code is older than the code that wrote the event"
        )
    return event_class.upcast(data, version)


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


def commit(store: EventStore, entries: list[tuple[Repository[Any], Aggregate]]) -> None:
    """Write the pending events of every aggregate in one atomic append.

    On success the aggregates' pending events are cleared and snapshots written where
    due (a failed snapshot is logged, never raised). On failure the error propagates
    and the aggregates keep their versions and pending events.
    """
    writes = []
    for _, aggregate in entries:
        pending = aggregate._pending
        if pending:
            stream = aggregate._stream_name()
            expected = aggregate._version - len(pending)
            writes.append(StreamWrite(stream, expected, [_new_message(e) for e in pending]))
    if not writes:
        return
    store.append(writes)
    for repository, aggregate in entries:
        count = len(aggregate._pending)
        if not count:
            continue
        aggregate._pending.clear()
        threshold = repository.snapshot_threshold()
        if (
            threshold
            and (aggregate._version + 1) // threshold
            > (aggregate._version + 1 - count) // threshold
        ):
            repository._write_snapshot(aggregate)
