"""Where a JetStream rehydrate's time goes: `python -m benchmarks.jetstream_profile`.

Standalone (not a suite; run by hand, in the project's virtual environment). Writes
one stream of `--stream` events (1,000) through `JetStreamEventStore`'s async face,
then times, alternating, `--rounds` times each:

- the store's `read` of the whole stream (leader check, batched direct get read by
  `jetstream_wire`'s raw subscription, decoding as messages arrive);
- the same batched direct get by hand with nats-py, each message awaited with
  `next_msg` (one task and one `wait_for` per message);
- the same request with a callback subscription (no task per message);
- the callback with `no_hdr` (the server sends no headers: what is left once headers
  cost nothing, though the store could not work without the sequence they carry);
- nats-py's header parser alone on one stored message's header block, once per
  message, against a plain `split`, with all headers and with fewer;
- CPU per read: the client's (`time.process_time`) and each nats-server's (from
  `/proc/<pid>/stat`, the pids in the cluster's directory), for the store's read, and
  for a batched direct get of messages stored with headers as the store's are (its
  position and an atomic batch's two, here published one by one) against the same
  messages stored without headers, into a scratch JetStream stream deleted afterwards.
  A message stored with headers makes the server build each of the six headers a
  batched direct get adds on its own (a header block copied and rewritten each time);
  one stored without has them written in one go.

Uses the cluster of `scripts/nats-cluster.sh` (started if needed, then stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from aggregen.runtime.jetstream import AsyncJetStreamEventStore
from aggregen.runtime.jetstream_subjects import subject_of
from aggregen.runtime.message import NewMessage, StreamWrite

from .nats_cluster import running_cluster

PREFIX = "aggregenbench"
COMMIT = 500
ROOT = Path(__file__).resolve().parent.parent


async def write_stream(store: AsyncJetStreamEventStore, events: int) -> str:
    """A stream of `events` Renamed events, in commits the store takes; its name."""
    name = f"profileUser-{uuid.uuid4()}"
    for start in range(0, events, COMMIT):
        messages = [
            NewMessage(str(uuid.uuid4()), "Renamed", {"first_name": f"Ada {i}"}, {"v": 1})
            for i in range(start, min(start + COMMIT, events))
        ]
        await store.append([StreamWrite(name, start - 1, messages)])
    return name


class DirectGet:
    """A batched direct get of one subject, by hand, three ways."""

    def __init__(self, nc: Any, subject: str, events: int) -> None:
        self.nc = nc
        self.subject = subject
        self.events = events
        self.api = f"$JS.API.DIRECT.GET.{PREFIX}"

    def _request(self, **extra: Any) -> bytes:
        return orjson.dumps({"seq": 1, "next_by_subj": self.subject, "batch": self.events, **extra})

    async def next_msg(self) -> list[Any]:
        """Each message awaited with `next_msg`, as the store first read."""
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        await self.nc.publish(self.api, self._request(), reply=inbox)
        page = []
        while True:
            message = await sub.next_msg(timeout=5)
            if "Status" in (message.headers or {}):
                break
            page.append(message)
        await sub.unsubscribe()
        return page

    async def callback(self, **extra: Any) -> list[Any]:
        """Messages collected by a subscription callback; `extra` joins the request."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        page: list[Any] = []

        async def take(message: Any) -> None:
            if not message.data and (message.headers or {}).get("Status"):
                done.set_result(None)
            elif message.data:
                page.append(message)

        sub = await self.nc.subscribe(self.nc.new_inbox(), cb=take)
        await self.nc.publish(self.api, self._request(**extra), reply=sub.subject)
        await asyncio.wait_for(done, 5)
        await sub.unsubscribe()
        return page


def header_parsing(sample: Any, events: int) -> list[tuple[str, float]]:
    """Seconds to parse `events` header blocks like `sample`'s, nats-py's way and plainly."""

    def block(headers: dict[str, str]) -> bytes:
        return b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"

    def plain(raw: bytes) -> dict[str, str]:
        found = {}
        for line in raw.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon:
                found[name.decode()] = value.strip().decode()
        return found

    headers: dict[str, str] = dict(sample.headers)
    server = {k: v for k, v in headers.items() if k.startswith("Nats-")}
    no_batch = {k: v for k, v in server.items() if not k.startswith("Nats-Batch")}
    from nats.aio.client import Client

    parsers: list[tuple[str, Callable[[bytes], object]]] = [
        ("nats-py header parser", Client._parse_header_lines),
        ("plain split", plain),
    ]
    timings = []
    for label, chosen in (
        (f"all {len(headers)} headers", headers),
        (f"the {len(server)} Nats-* (store's own in the payload)", server),
        (f"the {len(no_batch)} the server adds", no_batch),
    ):
        raw = block(chosen)
        for name, parse in parsers:
            seconds = timeit.timeit(functools.partial(parse, raw), number=events)
            timings.append((f"{name}, {label}", seconds))
    return timings


async def profile(uri: str, events: int, rounds: int) -> None:
    store = AsyncJetStreamEventStore(f"{uri}/{PREFIX}")
    try:
        name = await write_stream(store, events)
        by_hand = DirectGet(await store._connection(), subject_of(PREFIX, name), events)

        async def read() -> list[Any]:
            return [message async for message in store.read(name)]

        ways: dict[str, Callable[[], Awaitable[list[Any]]]] = {
            "store.read (leader check, raw direct get, decode)": read,
            "direct get, next_msg per message": by_hand.next_msg,
            "direct get, callback": by_hand.callback,
            "direct get, callback, no_hdr": lambda: by_hand.callback(no_hdr=True),
        }
        times: dict[str, list[float]] = {label: [] for label in ways}
        for label, way in ways.items():
            if len(await way()) != events:
                raise AssertionError(f"{label}: not {events} messages")
        for _ in range(rounds):
            for label, way in ways.items():
                started = time.perf_counter()
                await way()
                times[label].append(time.perf_counter() - started)
        sample = (await by_hand.next_msg())[-1]
    finally:
        await store.close()
    print(f"{events:,} events, {rounds} rounds: best and median per read")
    for label, samples in times.items():
        print(f"  {label}: {min(samples) * 1e3:.1f} ms, {statistics.median(samples) * 1e3:.1f} ms")
    print(f"header parsing of {events:,} messages (best of 3):")
    best: dict[str, float] = {}
    for _ in range(3):
        for label, seconds in header_parsing(sample, events):
            best[label] = min(best.get(label, seconds), seconds)
    for label, seconds in best.items():
        print(f"  {label}: {seconds * 1e3:.1f} ms")


def server_pids() -> list[int]:
    """The pids of the cluster's nats-servers (`AGGREGEN_NATS_DIR` or `.nats`), or none."""
    directory = Path(os.environ.get("AGGREGEN_NATS_DIR", ROOT / ".nats"))
    pids = []
    for node in (1, 2, 3):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((directory / f"n{node}.pid").read_text()))
    return pids


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process `pid` so far (0 if it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_per_call(action: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    """Milliseconds of CPU per call of `action`: the client's, then each server's."""
    pids = server_pids()
    client, servers = time.process_time(), [cpu_seconds(pid) for pid in pids]
    for _ in range(rounds):
        await action()
    used = [time.process_time() - client]
    used += [cpu_seconds(pid) - before for pid, before in zip(pids, servers, strict=True)]
    return [seconds * 1e3 / rounds for seconds in used]


async def header_cost(store: AsyncJetStreamEventStore, events: int, rounds: int) -> None:
    """Client and server CPU of a batched direct get: the store's read, and messages
    stored with headers against the same stored without, in a scratch stream."""
    scratch = f"{PREFIX}scratch{uuid.uuid4().hex[:8]}"
    nc = await store._connection()
    await store._api(
        f"$JS.API.STREAM.CREATE.{scratch}",
        {
            "name": scratch,
            "subjects": [f"{scratch}.>"],
            "num_replicas": 3,
            "storage": "file",
            "allow_direct": True,
        },
    )
    try:
        payload = orjson.dumps([{"first_name": "Ada"}, {"v": 1}, str(uuid.uuid4()), "Renamed"])
        batch = uuid.uuid4().hex
        for n in range(events):
            headers = {"Aggregen-Position": str(n), "X-Batch-Id": batch, "X-Batch-Seq": str(n + 1)}
            await nc.request(f"{scratch}.with", payload, headers=headers)
            await nc.request(f"{scratch}.without", payload)
        await asyncio.sleep(1)  # every replica has them: each may answer
        by_hand = {kind: DirectGet(nc, f"{scratch}.{kind}", events) for kind in ("with", "without")}
        for getter in by_hand.values():
            getter.api = f"$JS.API.DIRECT.GET.{scratch}"
            if len(await getter.callback()) != events:
                raise AssertionError(f"{getter.subject}: not {events} messages")
        name = await write_stream(store, events)

        async def read() -> list[Any]:
            return [message async for message in store.read(name)]

        print(f"CPU per read of {events:,} messages, ms (client; each server), {rounds} reads:")
        for label, action in (
            ("store.read", read),
            ("direct get, stored with 3 headers", by_hand["with"].callback),
            ("direct get, stored without headers", by_hand["without"].callback),
        ):
            for _ in range(2):
                used = await cpu_per_call(action, rounds)
                each = ", ".join(f"{ms:.1f}" for ms in used[1:]) or "no pids found"
                print(f"  {label}: {used[0]:.1f}; {each} (servers {sum(used[1:]):.1f})")
    finally:
        await store._api(f"$JS.API.STREAM.DELETE.{scratch}", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", type=int, default=1000, help="events of the stream [1000]")
    parser.add_argument("--rounds", type=int, default=9, help="reads of each kind [9]")
    args = parser.parse_args()
    with running_cluster() as uri:
        asyncio.run(profile(uri, args.stream, args.rounds))
        asyncio.run(cpu_profile(uri, args.stream, 10 * args.rounds))


async def cpu_profile(uri: str, events: int, rounds: int) -> None:
    store = AsyncJetStreamEventStore(f"{uri}/{PREFIX}")
    try:
        await header_cost(store, events, rounds)
    finally:
        await store.close()


if __name__ == "__main__":
    main()
