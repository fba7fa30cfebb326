"""`Aggregate`, the base of event-sourced aggregates."""

from __future__ import annotations

import datetime
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from .causation import Cause, current_cause
from .codec import decoder_for, encode
from .event import Event, Metadata
from .message import uuid4_string
from .stream_name import default_category, stream_name

__all__ = ["Aggregate"]

_UTC = datetime.UTC
_new_tuple = tuple.__new__  # builds Metadata without its Python-level __new__
_NO_CAUSE = Cause()
_BASE_ATTRIBUTES = frozenset({"id", "_version", "_pending", "_stream"})


class Aggregate:
    """An entity whose state is the sum of its events.

    `id` names its stream; `_version` is the stream position of its last event: -1
    while new, 0 after its first event. `raise_(event)` applies an event at once
    and keeps it pending until a repository stores it.

    Subclasses implement `apply(event)` and list their event classes in
    `__events__` (stored type name -> class). They may set `__category__` (default:
    the class name with a lower-case first letter) and `__snapshot_threshold__`
    (default: the global setting). Snapshots hold the public attributes annotated on
    the class; generated aggregates override `_snapshot_state` and `_restore_state`.
    A class may set `__behavior_version__` (any int or str) and change it when what
    its events do to the state changes in code aggregen does not fingerprint (see
    `_snapshot_fingerprint`): snapshots taken before are then ignored. A class whose
    `apply` calls one method per event class names them in `__apply_methods__`
    (event class -> method name), as generated classes do: replays then call those
    methods directly, unless a subclass overrides `apply`.
    """

    __category__: ClassVar[str] = ""
    __snapshot_threshold__: ClassVar[int | None] = None
    __events__: ClassVar[Mapping[str, type[Event]]] = {}
    __behavior_version__: ClassVar[int | str | None] = None
    __apply_methods__: ClassVar[Mapping[type[Event], str]] = {}

    id: str
    _version: int
    _pending: list[Event]
    _stream: tuple[str, str] | None  # (id, stream name), computed once per id

    def __init__(self, *, id: str | None = None) -> None:
        self.id = uuid4_string() if id is None else id
        self._version = -1
        self._pending = []
        self._stream = None
        self._init_state()

    @classmethod
    def category(cls) -> str:
        """The stream category of this aggregate class."""
        return cls.__category__ or default_category(cls.__name__)

    @classmethod
    def stream_name(cls, aggregate_id: str) -> str:
        """The event stream of the aggregate `aggregate_id`; raises `StreamNameError`."""
        return stream_name(cls.category(), aggregate_id)

    @classmethod
    def _blank(cls, aggregate_id: str) -> Self:
        """A new instance for rehydration: no event applied, `__init__` not called."""
        aggregate = cls.__new__(cls)
        aggregate.id = aggregate_id
        aggregate._version = -1
        aggregate._pending = []
        aggregate._stream = None
        aggregate._init_state()
        return aggregate

    def _stream_name(self) -> str:
        """This aggregate's stream name, validated once (again only if `id` changes)."""
        cached = self._stream
        if cached is None or cached[0] != self.id:
            cached = self._stream = (self.id, self.stream_name(self.id))
        return cached[1]

    def _init_state(self) -> None:
        """Give every state attribute its initial value (hook for subclasses)."""

    def apply(self, event: Event) -> None:
        """Change the state by one event; subclasses dispatch on the event's class."""
        raise NotImplementedError(f"{type(self).__name__} does not apply {type(event).__name__}")

    @classmethod
    def _apply_function(cls, event_class: type[Event]) -> typing.Callable[[Any, Any], None]:
        """What `apply` does with an event of `event_class`, as a function of (self, event).

        The method that `__apply_methods__` names for the class, when the class that
        declares them is the one whose `apply` is in force (no subclass overrides it);
        otherwise `apply` itself. Replays call it to skip `apply`'s dispatch.
        """
        for owner in cls.__mro__:
            methods = owner.__dict__.get("__apply_methods__")
            if methods is not None:
                name = methods.get(event_class)
                if name is not None and cls.apply is owner.__dict__.get("apply"):
                    return typing.cast(typing.Callable[[Any, Any], None], getattr(cls, name))
                break
        return cls.apply

    def raise_(
        self,
        event: Event,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:
        """Apply `event` now and keep it pending for the repository's next `add`.

        The event is stamped with its metadata (message id, time, stream, position),
        and with the cause and correlation in effect (`aggregen.runtime.causation`);
        `correlation_id` and `causation_id` override those. Raises `ValueError` for
        an event that was raised already; whatever `apply` raises leaves the aggregate
        unchanged.
        """
        if event.metadata is not None:
            raise ValueError(f"this {type(event).__name__} event was raised already")
        self.apply(event)
        self._version += 1
        cause = current_cause() or _NO_CAUSE
        metadata = _new_tuple(
            Metadata,
            (
                uuid4_string(),
                datetime.datetime.now(_UTC),
                self._stream_name(),
                self._version,
                None,
                event.__schema_version__,
                cause.correlation_id if correlation_id is None else correlation_id,
                cause.message_id if causation_id is None else causation_id,
                cause.stream_name,
                cause.position,
                cause.global_position,
                cause.correlation_stream_name,
            ),
        )
        object.__setattr__(event, "metadata", metadata)
        self._pending.append(event)

    @property
    def pending_events(self) -> tuple[Event, ...]:
        """The events raised since the aggregate was loaded or last stored."""
        return tuple(self._pending)

    def _snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-ready data, for a snapshot."""
        return {name: encode(getattr(self, name)) for name, _ in _state_fields(type(self))}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set the state from `_snapshot_state` output; raises on data that does not fit."""
        for name, decode in _state_fields(type(self)):
            setattr(self, name, decode(state[name]))

    @classmethod
    def _state_shape(cls) -> str:
        """A fingerprint of the snapshot state's shape; a snapshot of another shape is ignored.

        Generated classes return the fingerprint of all in their schema that decides
        the state from the events.
        """
        return _shape_of(cls)

    @classmethod
    def _snapshot_fingerprint(cls) -> str:
        """What a snapshot must have been taken with to be used: `_state_shape()` and the code.

        The code is that of the apply methods and what they call, generated and
        hand-written (see `apply_code`), and `__behavior_version__` if the class sets
        one. Computed once per class.
        """
        found = _fingerprint_cache.get(cls)
        if found is None:
            import hashlib  # once per class: kept out of `import aggregen.runtime`

            from .apply_code import apply_code_fingerprint  # parses source: only when needed

            text = f"{cls._state_shape()}\0{apply_code_fingerprint(cls, Aggregate)}"
            found = _fingerprint_cache[cls] = hashlib.sha256(text.encode()).hexdigest()[:32]
        return found


_StateFields = tuple[tuple[str, typing.Callable[[Any], Any]], ...]
_state_fields_cache: dict[type[Aggregate], _StateFields] = {}
_shape_cache: dict[type[Aggregate], str] = {}
_fingerprint_cache: dict[type[Aggregate], str] = {}


def _state_fields(cls: type[Aggregate]) -> _StateFields:
    found = _state_fields_cache.get(cls)
    if found is None:
        found = _state_fields_cache[cls] = _find_state_fields(cls)
    return found


def _find_state_fields(cls: type[Aggregate]) -> _StateFields:
    hints = typing.get_type_hints(cls)
    return tuple(
        (name, decoder_for(hint))
        for name, hint in sorted(hints.items())
        if not name.startswith("_")
        and name not in _BASE_ATTRIBUTES
        and typing.get_origin(hint) is not ClassVar
    )


def _shape_of(cls: type[Aggregate]) -> str:
    found = _shape_cache.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        described = ";".join(f"{name}:{hints[name]!r}" for name, _ in _state_fields(cls))
        import hashlib  # once per class: kept out of `import aggregen.runtime`

        found = _shape_cache[cls] = hashlib.sha256(described.encode()).hexdigest()[:16]
    return found
