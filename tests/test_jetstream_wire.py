"""The JetStream store's connection (`jetstream_wire`): raw frames, however cut, and
runs of messages published at once.

No server: the protocol bytes are written here as nats-server sends them and fed
to the parser of an unconnected `WireClient`, whole, a byte at a time and in
random cuts; what an unconnected client would send is read from its buffer.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from nats.errors import ProtocolError

from aggregen.runtime.jetstream_messages import header_block
from aggregen.runtime.jetstream_wire import WireClient

RAW_SID = 7


def hmsg(sid: int, headers: bytes, payload: bytes, reply: str = "") -> bytes:
    """One HMSG frame as nats-server sends it."""
    line = f"HMSG _INBOX.x {sid} {reply + ' ' if reply else ''}{len(headers)} "
    return (line + f"{len(headers) + len(payload)}\r\n").encode() + headers + payload + b"\r\n"


HEADERS = b"NATS/1.0\r\nAggregen-Position: 0\r\nNats-Sequence: 5\r\n\r\n"
EOB = b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\n\r\n"
EXPECTED = [
    (HEADERS, b'[{"a":1},null,"id-1","T"]'),
    (HEADERS.replace(b"5", b"6"), b'[{"b":"\\r\\nHMSG 1 2 3"},null,"id-2","T"]'),
    (HEADERS.replace(b"5", b"8"), b"[]"),
    (EOB, b""),
]
RAW_ONLY = b"".join(
    hmsg(RAW_SID, headers, payload, reply="r.1" if i == 1 else "")
    for i, (headers, payload) in enumerate(EXPECTED)
)
MIXED = (
    hmsg(RAW_SID, *EXPECTED[0])
    + hmsg(RAW_SID, *EXPECTED[1])
    + b"MSG other.subject 9 5\r\nhello\r\n"  # a subscription of nats-py's own (none here)
    + b"+OK\r\n"
    + hmsg(RAW_SID, *EXPECTED[2])
    + hmsg(RAW_SID, *EXPECTED[3])
)


def taken(stream: bytes, cuts: list[int]) -> tuple[list[tuple[bytes | None, bytes]], int]:
    """What the raw subscription got from `stream` fed in pieces ending at `cuts`, and
    how many messages went through nats-py's own path."""
    got: list[tuple[bytes | None, bytes]] = []

    async def feed() -> int:
        client = WireClient()
        client._raw[RAW_SID] = lambda headers, payload: got.append((headers, payload))
        start = 0
        for end in [*cuts, len(stream)]:
            await client._ps.parse(stream[start:end])
            start = end
        assert not client._ps.buf
        return int(client.stats["in_msgs"])

    return got, asyncio.run(feed())


def every_byte(stream: bytes) -> list[int]:
    return list(range(1, len(stream)))


def random_cuts(stream: bytes, seed: int) -> list[int]:
    chooser = random.Random(seed)
    return sorted(chooser.sample(range(1, len(stream)), 12))


@pytest.mark.parametrize("stream", [RAW_ONLY, MIXED], ids=["raw", "mixed"])
def test_frames_reach_the_raw_subscription_however_cut(stream: bytes) -> None:
    for cuts in [[], every_byte(stream), *(random_cuts(stream, seed) for seed in range(20))]:
        assert taken(stream, cuts)[0] == EXPECTED


def test_raw_frames_fed_whole_skip_nats_py_parser() -> None:
    assert taken(RAW_ONLY, [])[1] == 0
    assert taken(RAW_ONLY, every_byte(RAW_ONLY))[1] == 0


def test_a_malformed_frame_is_nats_py_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        taken(hmsg(RAW_SID, *EXPECTED[0]) + b"HMSG _INBOX.x 7 12 ab\r\n", [])


def sent_frames(client: WireClient) -> list[list[bytes]]:
    """What `client` queued to send, as `HPUB` frames: the control line's fields, the
    header block and the payload of each."""
    queued = b"".join(client._pending)
    frames = []
    while queued:
        line, _, queued = queued.partition(b"\r\n")
        fields = line.split()
        header_size, total = int(fields[-2]), int(fields[-1])
        body, queued = queued[:total], queued[total + 2 :]
        frames.append([*fields, body[:header_size], body[header_size:]])
    return frames


def test_a_run_of_messages_is_sent_as_publish_sends_each() -> None:
    messages = [
        ("p.s.a.=1", {"Aggregen-Position": "0", "Nats-Batch-Id": "b", "Nats-Batch-Sequence": "1"}),
        ("p.i.x", {"Nats-Expected-Last-Subject-Sequence": "0", "Nats-Batch-Sequence": "2"}),
    ]

    async def both() -> tuple[WireClient, WireClient]:
        ours, theirs = WireClient(), WireClient()
        for client in (ours, theirs):  # buffered while not connected, as `connect` allows
            client._max_pending_size = 1 << 20
        await ours.publish_many(
            [(subject, header_block(headers), b'[{"n":1}]') for subject, headers in messages]
        )
        for subject, headers in messages:
            await theirs.publish(subject, b'[{"n":1}]', headers=headers)
        return ours, theirs

    ours, theirs = asyncio.run(both())
    assert sent_frames(ours) == sent_frames(theirs)
    assert len(sent_frames(ours)) == 2
    assert ours.stats["out_msgs"] == theirs.stats["out_msgs"] == 2
