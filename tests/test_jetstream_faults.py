"""JetStream leader loss: the stream leader SIGKILLed under contended writes, and after.

Every test runs on a private 3-node cluster (scripts/nats-cluster.sh with its own
directory, so its own ports and data), never on the cluster other tests share.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aggregen.runtime import (
    AsyncJetStreamEventStore,
    CommitOutcomeUnknownError,
    EventStoreError,
    JetStreamEventStore,
    NewMessage,
    StreamWrite,
)
from aggregen.runtime.jetstream_errors import ApiError
from aggregen.runtime.jetstream_retry import ApiRefusal, retryable

pytestmark = pytest.mark.jetstream

ROOT = Path(__file__).resolve().parent.parent
KILLS = 10
WRITERS = 3
ACCOUNTS = 6
WRITER = [sys.executable, "-m", "tests.jetstream_writer"]


class Cluster:
    """A private cluster run by scripts/nats-cluster.sh in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def script(self, command: str, *args: str) -> str:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "nats-cluster.sh"), command, *args],
            env={**os.environ, "AGGREGEN_NATS_DIR": str(self.directory)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def kill(self, server_name: str) -> None:
        """SIGKILL the node `server_name` (n1, n2 or n3)."""
        pid = int((self.directory / f"{server_name}.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
            time.sleep(0.01)

    def stream_states(self, stream: str) -> dict[str, Any]:
        """Each live node's own state of `stream` (its monitoring endpoint), by node."""
        ports = (self.directory / "ports").read_text().split()
        states: dict[str, Any] = {}
        for n, port in enumerate(ports[6:9], 1):
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/jsz?streams=true", timeout=2
                ) as answer:
                    jsz = json.load(answer)
            except OSError:
                continue
            for account in jsz.get("account_details", []):
                for detail in account.get("stream_detail", []):
                    if detail["name"] == stream:
                        state = detail["state"]
                        states[f"n{n}"] = (
                            state["messages"],
                            state["first_seq"],
                            state["last_seq"],
                        )
        return states


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path / "nats")
    cluster.script("start")
    try:
        yield cluster
    finally:
        cluster.script("stop", "--wipe")


def stream_info(store: JetStreamEventStore) -> dict[str, Any]:
    return store._run(store.inner._api(f"$JS.API.STREAM.INFO.{store.inner.prefix}", {}))


def leader(store: JetStreamEventStore) -> str | None:
    """The stream leader's server name, from stream info's `cluster.leader`."""
    try:
        name = stream_info(store).get("cluster", {}).get("leader")
    except EventStoreError:
        return None
    return str(name) if name else None


def wait_for(condition: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {seconds} s")


def acknowledged(outputs: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in outputs for line in path.read_text().splitlines()]


def test_stream_leader_killed_ten_times_under_contended_writes(
    cluster: Cluster, tmp_path: Path
) -> None:
    uri = f"{cluster.script('uri')}/jsfault"
    category = "jsfAccount"
    store = JetStreamEventStore(uri)
    stop = tmp_path / "stop"
    outputs = [tmp_path / f"writer{n}.jsonl" for n in range(WRITERS)]
    writers = [
        subprocess.Popen(
            [*WRITER, uri, category, str(ACCOUNTS), str(stop), str(output), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, output in enumerate(outputs)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        for _ in range(KILLS):
            before = len(acknowledged(outputs))
            wait_for(lambda b=before: len(acknowledged(outputs)) > b + 20, "writes")
            old = wait_for(lambda: leader(store), "stream leader")
            cluster.kill(old)
            wait_for(lambda o=old: leader(store) not in (None, o), "new stream leader")
            cluster.script("start")  # restarts the killed node
            wait_for(lambda: len(set(cluster.stream_states("jsfault").values())) == 1, "catch-up")
    finally:
        stop.touch()
        ends = []
        for writer in writers:
            writer.wait(60)
            assert writer.stdout is not None
            ends.append(writer.stdout.read())
            writer.stdout.close()
    assert [writer.returncode for writer in writers] == [0] * WRITERS
    # Requests waiting for a dead leader's answer are given up when JetStream announces
    # the new leader, not when their timeout ends.
    assert sum(int(end.split()[-1]) for end in ends) > 0, ends
    lines = acknowledged(outputs)
    assert [line for line in lines if "error" in line] == []

    stored = store.read_category(category, batch_size=100_000)
    ids = Counter(message.id for message in stored)
    assert [i for i, count in ids.items() if count > 1] == []  # nothing stored twice
    acked = {i for line in lines for i in line["ids"]}
    assert acked <= set(ids)  # every acknowledged event stored
    units = Counter(message.data["unit"] for message in stored)
    assert set(units.values()) == {2}  # units of work whole
    for stream in {message.stream_name for message in stored}:
        positions = [m.position for m in stored if m.stream_name == stream]
        assert positions == list(range(len(positions)))  # contiguous, in order
    # Every node holds the same stream as the leader once the last one restarted.
    states = wait_for(lambda: cluster.stream_states("jsfault"), "stream states")
    assert len(states) == 3
    assert len(set(states.values())) == 1
    pauses = sorted(line["seconds"] for line in lines)
    print(f"{len(lines)} units acknowledged; longest appends: {pauses[-KILLS:]}")
    store.close()


def test_a_commit_without_a_quorum_ends_with_commit_outcome_unknown_at_the_deadline(
    cluster: Cluster,
) -> None:
    uri = f"{cluster.script('uri')}/jsquorum"
    with JetStreamEventStore(uri, retry_deadline=3) as store:  # timeout: 5 s
        store.append([StreamWrite("jsqAccount-1", -1, [_message()])])
        stream_leader = wait_for(lambda: leader(store), "stream leader")
        for name in ("n1", "n2", "n3"):
            if name != stream_leader:
                cluster.kill(name)  # the leader alone cannot commit
        started = time.monotonic()
        with pytest.raises(
            EventStoreError, match=r"retried \d+ times in [\d.]+ s, retry_deadline 3 s"
        ) as raised:
            store.append([StreamWrite("jsqAccount-1", 0, [_message()])])
        assert time.monotonic() - started >= 3
        assert isinstance(raised.value, CommitOutcomeUnknownError)
        # The first request waited 1 s for the commit's answer, not the whole 5 s
        # `timeout`: there was time left to run the append again.
        assert "retried 0 times" not in str(raised.value)
        # One deadline for the whole call: the wait for a write in flight (10164) is not
        # given a deadline of its own once the call's has passed.
        assert one_deadline_for_the_call(uri) == 1


class _SkewedLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test can move forward (`skew` seconds ahead)."""

    skew = 0.0

    def time(self) -> float:
        return super().time() + self.skew


class _OnFirstRetry(logging.Handler):
    """Moves `loop`'s clock `seconds` ahead when the store first says it retries."""

    def __init__(self, loop: _SkewedLoop, seconds: float) -> None:
        super().__init__()
        self.loop, self.seconds, self.done = loop, seconds, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.done and record.getMessage().startswith("JetStream request failed"):
            self.done = True
            self.loop.skew += self.seconds


def one_deadline_for_the_call(uri: str) -> int:
    """How many times an append waiting out its own write in flight (10164) diagnosed the
    refusal once its call's retry deadline had passed (the clock moved past it when the
    first attempt timed out)."""
    loop = _SkewedLoop()
    store = AsyncJetStreamEventStore(uri, retry_deadline=3, timeout=1)
    diagnoses = 0
    diagnose = store._diagnose

    async def counted(writes: Sequence[StreamWrite]) -> bool:
        nonlocal diagnoses
        diagnoses += 1
        return await diagnose(writes)

    store._diagnose = counted  # type: ignore[method-assign]  # counted, still the store's
    handler = _OnFirstRetry(loop, 3)
    logging.getLogger("aggregen.jetstream").addHandler(handler)
    try:
        with pytest.raises(CommitOutcomeUnknownError):
            loop.run_until_complete(store.append([StreamWrite("jsqAccount-2", -1, [_message()])]))
    finally:
        logging.getLogger("aggregen.jetstream").removeHandler(handler)
        loop.run_until_complete(store.close())
        loop.close()
    assert handler.done
    return diagnoses


def _message() -> NewMessage:
    return NewMessage(str(uuid.uuid4()), "Opened", {}, None)


def test_what_is_retried() -> None:
    import nats.errors

    def caused_by(cause: BaseException) -> EventStoreError:
        error = EventStoreError("event store failed")
        error.__cause__ = cause
        return error

    assert retryable(caused_by(nats.errors.NoRespondersError()))
    assert retryable(caused_by(nats.errors.TimeoutError()))
    assert retryable(caused_by(ApiRefusal(ApiError(503, 10008, "temporarily unavailable"))))
    assert retryable(caused_by(ApiRefusal(ApiError(400, 10176, "batch is incomplete"))))
    assert not retryable(caused_by(ApiRefusal(ApiError(400, 10059, "stream not found"))))
    assert retryable(caused_by(ConnectionRefusedError(111, "Connect call failed")))
    assert retryable(caused_by(nats.errors.NoServersError()))
    assert not retryable(caused_by(nats.errors.ConnectionClosedError()))
    assert not retryable(EventStoreError("no cause"))
