"""`EventHandler`: the base of generated handlers, which turn messages into typed events.

A generated `<Aggregate>Handler` lists the aggregate's events in `__events__` and has
one `on_<event>` method per event (doing nothing unless overridden) and a `dispatch`
that calls the right one. `handle(message)` decodes the message as `Repository.get`
does (upcasting older versions) and dispatches it, so a handler works as a
consumer's handler and, given a session, as a projection. `HandlerBase` is what it
shares with `AsyncEventHandler` (handler_async.py): all but the dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .category import stream_id
from .decoding import UnknownEventTypeError, decode_event
from .event import Event
from .message import RecordedMessage

if TYPE_CHECKING:  # the read side's projections load only when used
    from .projection import Session

__all__ = ["EventHandler", "HandlerBase"]

S = TypeVar("S")
"""The session a projection gives its handler: `Session`, or `AsyncSession`."""


def _no_op_types(cls: type[HandlerBase[Any]]) -> dict[str, tuple[str, object, object]]:
    """The stored types whose handling does nothing in `cls`: (method name, no-op, dispatch).

    A type qualifies when the generated class that names its `on_<event>` method (in
    `__handler_methods__`) still gives both that method and `dispatch` to `cls`: the
    message would be decoded only to call a method that does nothing. None does when a
    subclass overrides `dispatch`, which may do anything with any event.
    """
    for owner in cls.__mro__:
        methods = owner.__dict__.get("__handler_methods__")
        if methods is None:
            continue
        dispatch = owner.__dict__.get("dispatch")
        if dispatch is None or getattr(cls, "dispatch", None) is not dispatch:
            return {}
        found = {}
        for type_name, event_class in cls.__events__.items():
            name = methods.get(event_class)
            function = None if name is None else owner.__dict__.get(name)
            if function is not None and getattr(cls, name) is function:
                found[type_name] = (name, function, dispatch)
        return found
    return {}


class HandlerBase(Generic[S]):
    """Decoding, the session and aggregate ids: what sync and async handlers share.

    A message of a type the code does not know (a newer writer, a rolling deploy)
    raises `UnknownEventTypeError`, naming stream and position, which stops the
    consumer; set `skip_unknown_types = True` on a subclass to skip such messages.
    """

    __events__: ClassVar[Mapping[str, type[Event]]] = {}
    __handler_methods__: ClassVar[Mapping[type[Event], str]] = {}
    """A generated handler's `on_<event>` method names, by event class."""
    skip_unknown_types: ClassVar[bool] = False

    _session: S | None = None
    _no_ops: ClassVar[Mapping[str, tuple[str, object, object]]] = {}
    """The types whose generated no-op method was in force when the class was made."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._no_ops = _no_op_types(cls)

    def _does_nothing(self, no_op: tuple[str, object, object]) -> bool:
        """Whether the generated no-op of `_no_ops` is still what handling its type calls.

        Checked on each message of such a type, so that a method set on the class or
        the instance later (a test's mock) is called as before.
        """
        name, function, dispatch = no_op
        cls = type(self)
        own = self.__dict__  # handlers have one: HandlerBase has no __slots__
        return (
            getattr(cls, name) is function
            and getattr(cls, "dispatch", None) is dispatch
            and (not own or (name not in own and "dispatch" not in own))
        )

    def _decode(self, message: RecordedMessage) -> Event | None:
        """The message's event, upcast; None for an unknown type this handler skips.

        Raises `StreamDataError` for a message that does not decode.
        """
        try:
            return decode_event(self.__events__, type(self).__name__, message)
        except UnknownEventTypeError:
            if self.skip_unknown_types:
                return None
            raise

    @property
    def session(self) -> S:
        """The projection's session while a projector runs this handler.

        Raises `RuntimeError` outside a projection (a plain consumer has no session).
        """
        if self._session is None:
            raise RuntimeError(
                f"{type(self).__name__}.session exists only while a Projector runs it"
            )
        return self._session

    @staticmethod
    def aggregate_id(event: Event) -> str:
        """The id of the aggregate whose stream holds `event` (`user-42` -> `42`).

        Raises `ValueError` for an event that was not read from a stream.
        """
        stream = event.metadata.stream_name if event.metadata is not None else None
        found = None if stream is None else stream_id(stream)
        if not found:
            raise ValueError(f"this {type(event).__name__} event was not read from a stream")
        return found

    def _not_dispatched(self, event: Event) -> NotImplementedError:
        """The error of a `dispatch` that has no method for `event`."""
        return NotImplementedError(
            f"{type(self).__name__} does not dispatch {type(event).__name__}"
        )


class EventHandler(HandlerBase["Session"]):
    """Decodes each message of a category to its event class and dispatches it.

    See `HandlerBase` for unknown types (`skip_unknown_types`), `session` and
    `aggregate_id`.
    """

    def handle(self, message: RecordedMessage, session: Session | None = None) -> None:
        """Decode `message` and dispatch its event; inside a projection, with `session`.

        Raises `StreamDataError` for a message that does not decode, and whatever the
        `on_<event>` method raises.
        """
        no_ops = self._no_ops
        if no_ops:  # a type this handler does not handle is not decoded, as in Eventide
            no_op = no_ops.get(message[2])  # its type
            if no_op is not None and self._does_nothing(no_op):
                return
        # `_decode`, inline: one Python call less a message.
        try:
            event = decode_event(self.__events__, type(self).__name__, message)
        except UnknownEventTypeError:
            if self.skip_unknown_types:
                return
            raise
        if session is None and self._session is None:  # a consumer's handler: no session
            self.dispatch(event)
            return
        self._session = session
        try:
            self.dispatch(event)
        finally:
            self._session = None

    def dispatch(self, event: Event) -> None:
        """Call the `on_<event>` method for `event`; generated handlers override it."""
        raise self._not_dispatched(event)
