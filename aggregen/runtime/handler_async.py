"""`AsyncEventHandler`: the base of generated `Async<Aggregate>Handler` classes.

`EventHandler` for asyncio: the decoding (upcasting as `get` does), unknown types,
the session and `aggregate_id` are `HandlerBase`'s, shared with `EventHandler`;
only `handle` and `dispatch` are awaited, so `on_<event>` methods can await I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .event import Event
from .handler import HandlerBase
from .message import RecordedMessage

if TYPE_CHECKING:  # the async read side loads only when used
    from .projection_async import AsyncSession

__all__ = ["AsyncEventHandler"]


class AsyncEventHandler(HandlerBase["AsyncSession"]):
    """Decodes each message of a category to its event class and awaits its dispatch.

    Works as an async consumer's handler (`await handler.handle(message)`) and as an
    `AsyncProjection` (`await handler.handle(message, session)`). One instance
    handles one message at a time: `session` belongs to the message being handled.
    See `HandlerBase` for unknown types, `session` and `aggregate_id`.
    """

    async def handle(self, message: RecordedMessage, session: AsyncSession | None = None) -> None:
        """Decode `message` and await the dispatch of its event, with `session` if given.

        Raises `StreamDataError` for a message that does not decode, and whatever the
        `on_<event>` method raises.
        """
        # EventHandler.handle's lines, with `await`: sharing them through a context
        # manager cost about 4 us a message (7 -> 12 us, in-memory handling measured).
        no_ops = self._no_ops
        if no_ops:  # a type this handler does not handle is not decoded, as in Eventide
            no_op = no_ops.get(message[2])  # its type
            if no_op is not None and self._does_nothing(no_op):
                return
        event = self._decode(message)
        if event is None:
            return
        self._session = session
        try:
            await self.dispatch(event)
        finally:
            self._session = None

    async def dispatch(self, event: Event) -> None:
        """Await the `on_<event>` method for `event`; generated handlers override it."""
        raise self._not_dispatched(event)
