"""What only the JetStream store does: subjects, URIs, limits, old servers, races.

The store's MessageDB semantics are proven by the conformance suites (`any_store`);
these tests cover what JetStream adds or lacks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregen.runtime import (
    AsyncJetStreamEventStore,
    ConfigurationError,
    ConsumerGroup,
    DuplicateMessageError,
    EventStoreError,
    ExpectedVersionError,
    JetStreamEventStore,
    NewMessage,
    RecordedMessage,
    StreamWrite,
    connect,
    connect_async,
)
from aggregen.runtime.category import consumer_group_member
from aggregen.runtime.jetstream import MAX_BATCH, parse_uri
from aggregen.runtime.jetstream_subjects import (
    category_filter,
    partition_filter,
    stream_name_of,
    subject_of,
)
from tests.conftest import ROOT


def message(n: int = 0) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), "Happened", {"n": n}, None)


@given(st.text(max_size=40))
def test_every_stream_name_maps_to_a_subject_and_back(stream_name: str) -> None:
    subject = subject_of("p", stream_name)
    tokens = subject.split(".")
    assert len(tokens) == 10
    assert all(tokens)
    assert subject.isascii()
    assert not any(c in token for token in tokens for c in "*> \t\r\n")
    assert stream_name_of(subject) == stream_name


@pytest.mark.parametrize(
    ("stream_name", "category", "member"),
    [
        ("user-1", "user", True),
        ("user:snapshot-1", "user", False),
        ("user:snapshot-1", "user:snapshot", True),
        ("user", "user", True),
        ("users-1", "user", False),
        ("user.x-1", "user", False),
    ],
)
def test_category_filters_follow_messagedb_categories(
    stream_name: str, category: str, member: bool
) -> None:
    """`<prefix>.s.<category>.*` matches a stream's subject exactly when MessageDB's
    `category(stream_name)` is the category."""
    assert matches(category_filter("p", category), subject_of("p", stream_name)) is member


def matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject filter matches a subject (`*` one token, `>` the rest)."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > index
        if index >= len(tokens) or want not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


@given(st.text(max_size=20), st.sampled_from([1, 2, 4, 8, 32, 64, 3, 128]))
def test_partition_filters_give_each_member_messagedbs_streams(stream_id: str, size: int) -> None:
    stream_name = f"user-{stream_id}"
    subject = subject_of("p", stream_name)
    members = [
        member
        for member in range(size)
        if (found := partition_filter("p", "user", ConsumerGroup(member, size))) is not None
        and matches(found, subject)
    ]
    if size in (1, 3, 128):  # not a power of two from 2 to 64: the member filters itself
        assert partition_filter("p", "user", ConsumerGroup(0, size)) is None
    else:
        assert members == [consumer_group_member(stream_name, size)]
    for member in (0, 1):  # a stream without an id goes to no member, as in MessageDB
        found = partition_filter("p", "user", ConsumerGroup(member, 2))
        assert found is not None
        assert not matches(found, subject_of("p", "user"))


@pytest.mark.parametrize(
    ("uri", "servers", "prefix"),
    [
        (
            "nats://a:4222,b:4223,c:4224/events",
            ["nats://a:4222", "nats://b:4223", "nats://c:4224"],
            "events",
        ),
        ("NATS://a:4222", ["nats://a:4222"], "aggregen"),
    ],
)
def test_uris_name_servers_and_a_prefix(uri: str, servers: list[str], prefix: str) -> None:
    assert parse_uri(uri) == (servers, prefix)


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("nats:///events", "at least one host"),
        ("nats://a:4222/ev.ents", "invalid JetStream stream prefix"),
        ("nats://user:secret@a:4222/events", "credentials"),
    ],
)
def test_uris_that_cannot_be_used_are_refused(uri: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as caught:
        connect(uri)
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigurationError, match=match):
        connect_async(uri)


@pytest.mark.jetstream
def test_an_append_beyond_one_batch_is_refused_whole(jetstream_store: JetStreamEventStore) -> None:
    stream = f"big-{uuid.uuid4()}"
    limit = MAX_BATCH // 2
    with pytest.raises(EventStoreError, match=f"at most {limit} messages"):
        jetstream_store.append([StreamWrite(stream, -1, [message(n) for n in range(limit + 1)])])
    assert jetstream_store.stream_version(stream) == -1
    jetstream_store.append([StreamWrite(stream, -1, [message(n) for n in range(limit)])])
    assert jetstream_store.stream_version(stream) == limit - 1


@pytest.mark.jetstream
def test_a_read_from_a_negative_position_reads_from_the_start(
    jetstream_store: JetStreamEventStore,
) -> None:
    """As in memory and on MessageDB. The store model found it: an empty stream read
    from -1 waited for a message at position -1 up to the retry deadline (15 s), then
    raised `EventStoreError`."""
    empty, stream = f"neg-{uuid.uuid4()}", f"neg-{uuid.uuid4()}"
    assert list(jetstream_store.read(empty, -1)) == []
    jetstream_store.append([StreamWrite(stream, -1, [message(n) for n in range(2)])])
    assert [m.position for m in jetstream_store.read(stream, -1)] == [0, 1]


@pytest.mark.jetstream
def test_a_write_of_no_messages_checks_no_version(jetstream_store: JetStreamEventStore) -> None:
    """As in memory and on MessageDB (which checks each message's version). The store
    model found it: an append with a write of no messages whose expected version was
    wrong was refused and retried to the deadline (15 s), then raised `EventStoreError`."""
    stream, other = f"empty-{uuid.uuid4()}", f"empty-{uuid.uuid4()}"
    jetstream_store.append([StreamWrite(stream, -1, [message(0)]), StreamWrite(other, 3, [])])
    jetstream_store.append([StreamWrite(stream, -1, []), StreamWrite(stream, 0, [message(1)])])
    assert jetstream_store.stream_version(stream) == 1
    assert jetstream_store.stream_version(other) == -1


@pytest.mark.jetstream
def test_racing_writers_get_one_winner_per_version(jetstream_store: JetStreamEventStore) -> None:
    """Four threads append at each expected version: exactly one wins each round."""
    stream = f"race-{uuid.uuid4()}"
    wins: list[int] = []
    conflicts: list[int] = []

    def writer() -> None:
        for version in range(-1, 9):
            try:
                jetstream_store.append([StreamWrite(stream, version, [message(version)])])
                wins.append(version)
            except ExpectedVersionError:
                conflicts.append(version)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    positions = [m.position for m in jetstream_store.read(stream)]
    assert positions == list(range(len(positions)))
    assert len(wins) == len(positions)
    assert len(wins) + len(conflicts) == 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def old_nats_server(tmp_path: Path) -> Iterator[str]:
    """Debian's nats-server 2.9 (no atomic batches) on a port of its own, JetStream on."""
    binary = shutil.which("nats-server", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if (
        binary is None
        or "2.9."
        not in subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=False
        ).stdout
    ):
        pytest.fail("this test needs Debian's nats-server 2.9 at /usr/sbin/nats-server")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}/old"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.jetstream
def test_a_first_connection_refused_to_the_deadline_names_the_servers() -> None:
    """Nothing listens: the connection is tried again until `retry_deadline` (nats-py
    alone would try for ever), then an error names the servers."""
    ports = [_free_port(), _free_port()]
    servers = [f"nats://127.0.0.1:{port}" for port in ports]

    async def version() -> int:
        async with AsyncJetStreamEventStore(
            f"{servers[0]},{servers[1][7:]}/down", retry_deadline=1
        ) as store:
            return await asyncio.wait_for(store.stream_version("a-1"), 30)

    with pytest.raises(EventStoreError) as raised:
        asyncio.run(version())
    text = str(raised.value)
    assert f"no NATS server could be reached at {', '.join(servers)} (" in text
    assert "the last with ConnectionRefusedError" in text
    assert text.endswith("retry_deadline 1 s)")


class _Noted(logging.Handler):
    """Sets `event` on the first record about a failed NATS connection."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("nats", "aggregen.jetstream")):
            self.event.set()


@pytest.mark.jetstream
def test_a_first_connection_refused_while_the_server_starts_is_retried(tmp_path: Path) -> None:
    port = _free_port()
    refused = threading.Event()
    noted = _Noted(refused)
    logging.getLogger().addHandler(noted)
    done: list[object] = []
    store = JetStreamEventStore(f"nats://127.0.0.1:{port}/late", replicas=1)

    def append() -> None:
        try:
            store.append([StreamWrite("late-1", -1, [message()])])
            done.append(store.stream_version("late-1"))
        except Exception as error:  # the test's assertion shows it
            done.append(error)

    writer = threading.Thread(target=append)
    writer.start()
    server = None
    try:
        assert refused.wait(30), "no connection was refused"
        binary = os.environ.get("NATS_SERVER", str(ROOT / ".venv" / "bin" / "nats-server"))
        server = subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        writer.join(60)
        assert done == [0]
    finally:
        logging.getLogger().removeHandler(noted)
        writer.join(60)
        store.close()
        if server is not None:
            server.terminate()
            server.wait(10)


@pytest.mark.jetstream
def test_a_server_without_atomic_batches_is_refused(old_nats_server: str) -> None:
    """nats-server 2.9 accepts `allow_atomic` and drops it: the store refuses to run."""
    store = JetStreamEventStore(old_nats_server, replicas=1)
    try:
        with pytest.raises(ConfigurationError, match=r"2\.12 or later"):
            store.append([StreamWrite(f"t-{uuid.uuid4()}", -1, [message()])])
    finally:
        store.close()


@pytest.mark.jetstream
def test_racing_writers_without_expected_version_all_succeed(
    jetstream_store: JetStreamEventStore,
) -> None:
    """As on MessageDB, an append without expected version never conflicts: a refused
    batch (another writer came first) is retried with fresh positions."""
    stream = f"race-{uuid.uuid4()}"

    def writer(worker: int) -> None:
        for n in range(10):
            jetstream_store.append([StreamWrite(stream, None, [message(100 * worker + n)])])

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = list(jetstream_store.read(stream))
    assert [m.position for m in stored] == list(range(40))
    assert sorted(m.data["n"] for m in stored) == sorted(
        100 * worker + n for worker in range(4) for n in range(10)
    )


@pytest.mark.jetstream
def test_a_message_id_is_taken_whatever_its_case(jetstream_store: JetStreamEventStore) -> None:
    """MessageDB keeps ids in a uuid column: `ABC...` and `abc...` are one id."""
    taken = message()
    jetstream_store.append([StreamWrite(f"case-{uuid.uuid4()}", -1, [taken])])
    other = f"case-{uuid.uuid4()}"
    again = NewMessage(taken.id.upper(), "Happened", {}, None)
    with pytest.raises(DuplicateMessageError):
        jetstream_store.append([StreamWrite(other, -1, [again])])
    fresh = message()
    twice = NewMessage(fresh.id.upper(), "Happened", {}, None)
    with pytest.raises(DuplicateMessageError):
        jetstream_store.append([StreamWrite(other, -1, [fresh, twice])])
    assert jetstream_store.stream_version(other) == -1


@pytest.mark.jetstream
def test_a_closed_store_says_so(nats_uri: str) -> None:
    store = JetStreamEventStore(f"{nats_uri}/closed-{uuid.uuid4().hex[:8]}")
    store.close()
    with pytest.raises(EventStoreError, match="closed"):
        store.stream_version("any-1")


@pytest.mark.jetstream
def test_reads_from_a_late_position_seek_it_among_other_streams(
    jetstream_store: JetStreamEventStore,
) -> None:
    """Reads from position 256 on search for their first sequence; the stream's
    sequences are interleaved with another stream's, so they are not contiguous."""
    stream, other = f"seek-{uuid.uuid4()}", f"seek-{uuid.uuid4()}"
    for start in range(0, 600, 100):
        jetstream_store.append(
            [
                StreamWrite(stream, start - 1, [message(start + n) for n in range(100)]),
                StreamWrite(other, start - 1, [message(start + n) for n in range(100)]),
            ]
        )
    whole = list(jetstream_store.read(stream))
    assert [m.position for m in whole] == list(range(600))
    for position in (0, 255, 256, 257, 300, 399, 400, 599, 600, 700):
        assert list(jetstream_store.read(stream, position)) == whole[position:]


@pytest.mark.jetstream
def test_a_stream_without_atomic_batches_is_refused(nats_uri: str) -> None:
    """A JetStream stream made by someone else without `allow_atomic` is not written to."""
    prefix = f"plain-{uuid.uuid4().hex[:8]}"
    admin = JetStreamEventStore(f"{nats_uri}/{prefix}-admin")
    config = {"name": prefix, "subjects": [f"{prefix}.>"], "num_replicas": 3}
    admin._run(admin.inner._api(f"$JS.API.STREAM.CREATE.{prefix}", config))
    store = JetStreamEventStore(f"{nats_uri}/{prefix}")
    try:
        with pytest.raises(ConfigurationError, match="does not allow atomic batch publish"):
            store.append([StreamWrite(f"t-{uuid.uuid4()}", -1, [message()])])
    finally:
        store.close()
        admin._run(admin.inner._api(f"$JS.API.STREAM.DELETE.{prefix}", {}))
        admin._run(admin.inner._api(f"$JS.API.STREAM.DELETE.{prefix}-admin", {}))
        admin.close()


@pytest.mark.jetstream
def test_appends_to_new_streams_ask_the_leader_nothing(
    jetstream_store: JetStreamEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream expected at version -1 is not looked up: the server checks that its
    subject has no message; one expected at a version is."""
    looked_up: list[str] = []
    last = jetstream_store.inner._last

    async def counted(subject: str) -> Any:
        looked_up.append(subject)
        return await last(subject)

    monkeypatch.setattr(jetstream_store.inner, "_last", counted)
    new, old = f"fresh-{uuid.uuid4()}", f"fresh-{uuid.uuid4()}"
    jetstream_store.append([StreamWrite(new, -1, [message()])])
    assert looked_up == []
    jetstream_store.append([StreamWrite(old, -1, [message()]), StreamWrite(new, 0, [message()])])
    assert looked_up == [subject_of(jetstream_store.inner.prefix, new)]
    with pytest.raises(ExpectedVersionError):
        jetstream_store.append([StreamWrite(old, -1, [message()])])
    assert [m.position for m in jetstream_store.read(new)] == [0, 1]


@pytest.mark.jetstream
@pytest.mark.parametrize("kept", [0, 7])
def test_a_read_goes_on_past_a_page_a_lagging_replica_cut_short(
    jetstream_store: JetStreamEventStore, monkeypatch: pytest.MonkeyPatch, kept: int
) -> None:
    """A read's first page is asked for together with the leader's last sequence: a
    replica behind the leader may answer with none or only some of the messages; the
    read asks again up to what the leader holds."""
    stream = f"lag-{uuid.uuid4()}"
    jetstream_store.append([StreamWrite(stream, -1, [message(n) for n in range(20)])])
    direct_once = jetstream_store.inner._direct_once
    asked: list[int] = []

    async def behind(subject: str, sequence: int, batch: int) -> list[RecordedMessage]:
        """The first direct get answered by a replica that has `kept` of the messages."""
        asked.append(sequence)
        page = await direct_once(subject, sequence, batch)
        return page[:kept] if len(asked) == 1 else page

    monkeypatch.setattr(jetstream_store.inner, "_direct_once", behind)
    assert [m.data["n"] for m in jetstream_store.read(stream)] == list(range(20))
    # Asked again at least once; more when the replica that answers the next direct get
    # (any of the three) has not caught up yet either.
    assert len(asked) >= 2


@pytest.mark.jetstream
def test_messages_written_with_the_position_header_are_read_and_extended(
    jetstream_store: JetStreamEventStore,
) -> None:
    """Earlier versions wrote `[data, metadata, id, type]` and the header
    `Aggregen-Position`; such a stream reads back, and appends go on from its version."""
    stream = f"legacy-{uuid.uuid4()}"
    inner = jetstream_store.inner
    old_ids = [str(uuid.uuid4()) for _ in range(2)]
    for position, old_id in enumerate(old_ids):
        body = f'[{{"n":{position}}},null,"{old_id}","Happened"]'.encode()
        headers = {  # a batch of one, as those versions wrote it
            "Aggregen-Position": str(position),
            "Nats-Batch-Id": uuid.uuid4().hex,
            "Nats-Batch-Sequence": "1",
            "Nats-Batch-Commit": "1",
        }

        async def publish(body: bytes = body, headers: dict[str, str] = headers) -> None:
            nc = await inner._connection()
            subject = subject_of(inner.prefix, stream)
            reply = await nc.request(subject, body, headers=headers, timeout=5)
            assert b'"count":1' in reply.data, reply.data

        jetstream_store._run(publish())
    assert jetstream_store.stream_version(stream) == 1
    jetstream_store.append([StreamWrite(stream, 1, [message(2)])])
    read = list(jetstream_store.read(stream))
    assert [(m.position, m.data["n"]) for m in read] == [(0, 0), (1, 1), (2, 2)]
    assert [m.id for m in read[:2]] == old_ids
    with pytest.raises(ExpectedVersionError):
        jetstream_store.append([StreamWrite(stream, 1, [message(3)])])
