"""The store's NATS connection: nats-py's client, with raw subscriptions for direct gets
and one write for the messages of an atomic batch.

nats-py turns every message it receives into a `Msg` and parses its header block
one character at a time, and a callback subscription passes each message through
a queue and a task: most of a 1,000-message read's time. A subscription made with
`WireClient.subscribe_raw` skips all of that: each of its messages goes straight
to a plain function, with the header block unparsed (`jetstream_messages` reads
it). `_WireParser` reads the runs of such messages a direct get sends with a split
of each `HMSG` line, and leaves everything else to nats-py's parser.
`WireClient.publish_many` sends the messages of an atomic batch before its commit as
`HPUB` frames built in one buffer, with header blocks the store made, rather than
encoding each message's headers through `publish`.

Imports nats-py (the jetstream extra): import this module only when connecting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nats import errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.protocol.parser import AWAITING_CONTROL_LINE, Parser

from .errors import ConfigurationError

__all__ = ["Take", "WireClient"]

Take = Callable[[bytes | None, bytes], None]
"""What a raw subscription calls with each message's header block and payload."""


_HOOKS = ("_process_msg", "_send_command", "_flush_pending")
"""nats-py's private methods the client relies on: its protocol parser calls the
first per message; the other two queue bytes to send and flush them, as `publish` does."""


class WireClient(Client):
    """A nats-py client whose raw subscriptions get their messages unparsed, and that
    publishes a run of messages with headers built by the caller.

    Raises `ConfigurationError` when made if nats-py no longer has the hooks it
    relies on (`_HOOKS`).
    """

    def __init__(self) -> None:
        for hook in _HOOKS:
            if not callable(getattr(Client, hook, None)):
                raise ConfigurationError(
                    f"this nats-py version has no Client.{hook}: the JetStream store "
                    "cannot send and read raw messages with it"
                )
        super().__init__()
        self._raw: dict[int, Take] = {}
        self._ps = _WireParser(self, self._raw)

    async def subscribe_raw(self, subject: str, take: Take) -> Subscription:
        """Subscribe to `subject`; each message's header block and payload go to `take`,
        called in the connection's reading task (so it must not block)."""
        sub = await self.subscribe(subject)
        self._raw[sub._id] = take
        return sub

    async def publish_many(self, messages: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Publish `messages` (subject, header block, payload; no reply subjects) in
        order, as one run of `HPUB` frames added to the connection's outgoing buffer:
        what `publish` does for each, without its header encoding per message.

        Raises what `publish` raises: `ConnectionClosedError`, `ConnectionDrainingError`,
        `MaxPayloadError`, and `OutboundBufferLimitError` while reconnecting with the
        buffer full.
        """
        if self.is_closed:
            raise errors.ConnectionClosedError
        if self.is_draining_pubs:
            raise errors.ConnectionDrainingError
        frames = bytearray()
        payloads = 0
        for subject, headers, payload in messages:
            if len(payload) > self._max_payload:
                raise errors.MaxPayloadError
            size = len(headers)
            frames += b"HPUB %s %d %d\r\n" % (subject.encode(), size, size + len(payload))
            frames += headers
            frames += payload
            frames += _CRLF
            payloads += len(payload)
        if not self.is_connected and (
            self._max_pending_size <= 0
            or len(frames) + self._pending_data_size > self._max_pending_size
        ):
            raise errors.OutboundBufferLimitError
        self.stats["out_msgs"] += len(messages)
        self.stats["out_bytes"] += payloads
        await self._send_command(bytes(frames))
        if self._flush_queue is not None and self._flush_queue.empty():
            await self._flush_pending()

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


_HMSG = b"HMSG "
_CRLF = b"\r\n"


class _WireParser(Parser):
    """nats-py's protocol parser, with a fast path for messages to raw subscriptions.

    While the buffer starts with whole `HMSG` frames (`HMSG subject sid [reply]
    header-bytes total-bytes`, then the header block and payload) for a raw
    subscription, each goes to its function here; a frame cut short waits for more
    bytes; anything else (other messages, PING, INFO, errors) and the rest of the
    buffer go to nats-py's parser, as do all bytes while it is inside a frame.
    """

    def __init__(self, nc: Client, raw: dict[int, Take]) -> None:
        super().__init__(nc)
        self._raw_subs = raw

    async def parse(self, data: bytes = b"") -> None:
        self.buf.extend(data)
        if self.state == AWAITING_CONTROL_LINE and self._raw_subs and self._take_raw():
            return
        await super().parse()

    def _take_raw(self) -> bool:
        """Hand the whole raw frames at the buffer's start to their subscriptions; True
        when the buffer ends inside one (wait for more bytes), False when what
        follows is for nats-py's parser."""
        buf = self.buf
        if not buf.startswith(_HMSG):
            return False
        frames = bytes(buf)
        size = len(frames)
        at = 0
        waiting = False
        sid, take = b"", None  # a run of frames mostly goes to one subscription
        while frames.startswith(_HMSG, at):
            line_end = frames.find(_CRLF, at)
            if line_end < 0:
                waiting = size - at < 1024  # a control line longer than that: not ours
                break
            fields = frames[at + 5 : line_end].split()  # after "HMSG "
            if len(fields) not in (4, 5):
                break
            header_size, total = fields[-2], fields[-1]
            if not (total.isdigit() and header_size.isdigit()):
                break
            if fields[1] != sid:
                sid = fields[1]
                take = self._raw_subs.get(int(sid)) if sid.isdigit() else None
            start = line_end + 2
            header_end = start + int(header_size)
            end = start + int(total)
            if take is None or header_end > end:
                break
            if size < end + 2:
                waiting = True
                break
            at = end + 2
            take(frames[start:header_end] or None, frames[header_end:end])
        del buf[:at]
        return waiting or not buf
