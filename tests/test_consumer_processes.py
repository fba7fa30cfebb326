"""Consumers and projections in processes of their own on real MessageDB: groups, SIGTERM, SIGKILL.

Bounded in count and time; every process talks to the MessageDB on 127.0.0.1.
"""

from __future__ import annotations

import collections
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.runtime import (
    EventStore,
    NewMessage,
    PositionStore,
    PostgresProjectionTarget,
    Projector,
    StreamWrite,
    connect,
)
from tests.conftest import ROOT
from tests.projection_support import Tally, app_database_uri

pytestmark = pytest.mark.messagedb


@pytest.fixture
def store(messagedb_uri: str) -> Iterator[EventStore]:
    """The test's own connection to MessageDB, closed even when the test fails."""
    with connect(messagedb_uri) as opened:
        yield opened


def new_category() -> str:
    return "proc" + uuid.uuid4().hex[:12]


def fill(store: EventStore, category: str, streams: int, per_stream: int) -> list[int]:
    """Write `per_stream` messages to each stream, round by round; return global positions."""
    for n in range(per_stream):
        store.append(
            [
                StreamWrite(
                    f"{category}-{s}",
                    None,
                    [NewMessage(str(uuid.uuid4()), "Ticked", {"n": n}, None)],
                )
                for s in range(streams)
            ]
        )
    everything: list[int] = []
    position = 1
    while batch := store.read_category(category, position):
        everything.extend(m.global_position for m in batch)
        position = batch[-1].global_position + 1
    return everything


def start(uri: str, category: str, name: str, output: Path, *options: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.consumer_process",
            uri,
            category,
            name,
            str(output),
            *options,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def finish(process: subprocess.Popen[str], timeout: float = 60) -> int:
    """Wait for the process to exit and close its pipe; return its exit code."""
    try:
        return process.wait(timeout)
    finally:
        if process.stdout is not None:
            process.stdout.close()


def handled(output: Path) -> list[tuple[int, str, int]]:
    lines = output.read_text().splitlines() if output.exists() else []
    return [(int(g), stream, int(p)) for g, stream, p in (line.split() for line in lines)]


def test_sigterm_finishes_the_message_records_the_position_and_exits_cleanly(
    messagedb_uri: str, tmp_path: Path, store: EventStore
) -> None:
    category = new_category()
    fill(store, category, streams=4, per_stream=100)
    output = tmp_path / "handled.txt"
    process = start(
        messagedb_uri, category, "stopper", output, "--pause", "0.005", "--interval", "1000"
    )
    deadline = time.monotonic() + 30
    while len(handled(output)) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)

    process.send_signal(signal.SIGTERM)
    assert finish(process, 30) == 0

    seen = handled(output)
    assert 30 <= len(seen) < 400, "stopped part-way"
    assert PositionStore(store, category, "stopper").get() == seen[-1][0]


def test_a_consumer_killed_at_random_moments_handles_everything_with_bounded_repeats(
    messagedb_uri: str, tmp_path: Path, store: EventStore
) -> None:
    category = new_category()
    interval = 10
    # 2,000 messages at 2 ms each: more work than 20 runs of at most 0.4 s can finish,
    # so that the kills land while the consumer works, however fast it gets.
    everything = fill(store, category, streams=10, per_stream=200)
    output = tmp_path / "handled.txt"
    chooser = random.Random(20261130)
    kills = 0
    for _ in range(20):
        process = start(
            messagedb_uri,
            category,
            "killed",
            output,
            "--catch-up",
            "--pause",
            "0.002",
            "--interval",
            str(interval),
        )
        time.sleep(chooser.uniform(0.0, 0.4))
        if process.poll() is None:
            process.kill()
            kills += 1
        finish(process, 30)
    final = start(
        messagedb_uri, category, "killed", output, "--catch-up", "--interval", str(interval)
    )
    assert finish(final) == 0

    seen = [g for g, _, _ in handled(output)]
    counts = collections.Counter(seen)
    assert set(counts) == set(everything), "every message handled at least once"
    repeats = len(seen) - len(everything)
    assert kills >= 10, "the kills must land while the consumer works"
    assert repeats <= kills * interval
    bound = kills * interval
    print(
        f"\n{kills} SIGKILLs: {len(everything)} messages, {repeats} handled twice (bound {bound})"
    )


def test_four_group_members_in_four_processes_split_the_category(
    messagedb_uri: str, tmp_path: Path, store: EventStore
) -> None:
    category = new_category()
    everything = fill(store, category, streams=40, per_stream=10)
    outputs = [tmp_path / f"member-{m}.txt" for m in range(4)]
    processes = [
        start(
            messagedb_uri,
            category,
            "group",
            outputs[m],
            "--catch-up",
            "--member",
            str(m),
            "--size",
            "4",
        )
        for m in range(4)
    ]
    assert [finish(p) for p in processes] == [0, 0, 0, 0]

    owner: dict[str, int] = {}
    seen: list[int] = []
    for member, output in enumerate(outputs):
        per_stream: dict[str, list[int]] = collections.defaultdict(list)
        for global_position, stream, position in handled(output):
            assert owner.setdefault(stream, member) == member, f"{stream} read by two members"
            per_stream[stream].append(position)
            seen.append(global_position)
        assert all(positions == list(range(10)) for positions in per_stream.values())
    assert sorted(seen) == sorted(everything), "none missed, none twice"
    assert len(owner) == 40
    assert len(set(owner.values())) == 4, "40 streams spread over all four members"


def test_a_projection_killed_at_random_moments_equals_a_clean_rebuild(
    messagedb_uri: str, store: EventStore
) -> None:
    category = new_category()
    # 3,600 events at 1 ms each: more work than 20 runs of at most 0.3 s can finish, so
    # that the kills land while the projection works, however fast it gets.
    events = 12 * 300
    fill(store, category, streams=12, per_stream=300)
    app_uri = app_database_uri(messagedb_uri)
    target = PostgresProjectionTarget(app_uri)
    try:
        check_killed_projection(messagedb_uri, store, category, app_uri, target, events)
    finally:
        target.close()


def check_killed_projection(
    messagedb_uri: str,
    store: EventStore,
    category: str,
    app_uri: str,
    target: PostgresProjectionTarget,
    events: int,
) -> None:
    """Kill the projection 20 times at random moments; then compare with a clean rebuild."""
    killed, clean = Tally(), Tally()
    with target.session() as session:
        killed.create_tables(session)
        clean.create_tables(session)
    chooser = random.Random(30112026)
    kills = 0
    for _ in range(20):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.projection_process",
                messagedb_uri,
                app_uri,
                category,
                killed.suffix,
                "--pause",
                "0.001",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        time.sleep(chooser.uniform(0.0, 0.3))
        if process.poll() is None:
            process.kill()
            kills += 1
        assert finish(process, 30) in (0, -signal.SIGKILL)
    Projector(store, category, killed, target, name=f"tally-{killed.suffix}").catch_up()
    Projector(store, category, clean, target, name=f"tally-{clean.suffix}").catch_up()

    with target.session() as session:
        after_kills = killed.model(session)
        rebuilt = clean.model(session)
    assert kills >= 10, "the kills must land while the projection works"
    assert len(rebuilt[0]) == events
    assert after_kills == rebuilt
    print(
        f"\n{kills} SIGKILLs of a projection: read model equals a clean rebuild ({events} events)"
    )
