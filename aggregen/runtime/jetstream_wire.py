"""The store's NATS connection: nats-py's client, with raw subscriptions for direct gets.

nats-py turns every message it receives into a `Msg` and parses its header block
one character at a time, and a callback subscription passes each message through
a queue and a task: most of a 1,000-message read's time. A subscription made with
`WireClient.subscribe_raw` skips all of that: the connection's protocol parser
hands each of its messages straight to a plain function, with the header block
unparsed (`jetstream_messages` reads it when the page is decoded).

Imports nats-py (the jetstream extra): import this module only when connecting.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.subscription import Subscription

from .errors import ConfigurationError

__all__ = ["Take", "WireClient"]

Take = Callable[[bytes | None, bytes], None]
"""What a raw subscription calls with each message's header block and payload."""


class WireClient(Client):
    """A nats-py client whose raw subscriptions get their messages unparsed.

    Raises `ConfigurationError` when made if nats-py no longer has the hook it
    relies on (`Client._process_msg`, which its protocol parser calls per message).
    """

    def __init__(self) -> None:
        if not callable(getattr(Client, "_process_msg", None)):
            raise ConfigurationError(
                "this nats-py version has no Client._process_msg: the JetStream store "
                "cannot read raw messages with it"
            )
        super().__init__()
        self._raw: dict[int, Take] = {}

    async def subscribe_raw(self, subject: str, take: Take) -> Subscription:
        """Subscribe to `subject`; each message's header block and payload go to `take`,
        called in the connection's reading task (so it must not block)."""
        sub = await self.subscribe(subject)
        self._raw[sub._id] = take
        return sub

    async def unsubscribe_raw(self, sub: Subscription) -> None:
        """End a subscription `subscribe_raw` made."""
        self._raw.pop(sub._id, None)
        await sub.unsubscribe()

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        take = self._raw.get(sid)
        if take is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        self.stats["in_msgs"] += 1
        self.stats["in_bytes"] += len(data)
        take(headers, data)
