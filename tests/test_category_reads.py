"""Category reads, run against the in-memory store and real MessageDB (one contract)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.runtime import (
    AsyncMessageDBEventStore,
    ConsumerGroup,
    EventStore,
    InMemoryEventStore,
    MessageDBEventStore,
    NewMessage,
    RecordedMessage,
    StreamDataError,
    StreamNameError,
    StreamWrite,
)
from aggregen.runtime.category import cardinal_id, category_of, consumer_group_member
from aggregen.runtime.messagedb import _category_query, _messages


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    """This module's tests run against all four stores, sync and async."""
    return any_store


def new_category() -> str:
    return "cat" + uuid.uuid4().hex[:12]


def message(metadata: dict[str, Any] | None = None, **data: object) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), "Happened", dict(data), metadata)


def write(store: EventStore, stream: str, *messages: NewMessage) -> None:
    store.append([StreamWrite(stream, None, list(messages))])


def read_all(store: EventStore, category: str, **options: Any) -> list[RecordedMessage]:
    """Every message of the category, read batch after batch from position 1."""
    found: list[RecordedMessage] = []
    position = 1
    while True:
        batch = store.read_category(category, position, **options)
        found.extend(batch)
        if len(batch) < options.get("batch_size", 1000):
            return found
        position = batch[-1].global_position + 1


def test_a_category_reads_in_global_order_across_its_streams(store: EventStore) -> None:
    category = new_category()
    first, second = f"{category}-1", f"{category}-2"
    write(store, first, message(n=0))
    write(store, second, message(n=1), message(n=2))
    write(store, first, message(n=3))

    read = store.read_category(category)

    assert [(m.stream_name, m.position, m.data["n"]) for m in read] == [
        (first, 0, 0),
        (second, 0, 1),
        (second, 1, 2),
        (first, 1, 3),
    ]
    positions = [m.global_position for m in read]
    assert positions == sorted(positions)
    assert all(m.time.tzinfo is not None for m in read)


def test_batches_continue_from_a_global_position(store: EventStore) -> None:
    category = new_category()
    for n in range(7):
        write(store, f"{category}-{n % 3}", message(n=n))

    first = store.read_category(category, batch_size=3)
    rest = store.read_category(category, first[-1].global_position + 1, batch_size=3)
    last = store.read_category(category, rest[-1].global_position + 1, batch_size=3)
    beyond = store.read_category(category, last[-1].global_position + 1, batch_size=3)

    assert [len(first), len(rest), len(last), len(beyond)] == [3, 3, 1, 0]
    assert [m.data["n"] for m in first + rest + last] == list(range(7))
    again = store.read_category(category, rest[0].global_position, batch_size=2)
    assert [m.id for m in again] == [m.id for m in rest[:2]]


def test_other_categories_snapshots_and_positions_stay_out(store: EventStore) -> None:
    category = new_category()
    write(store, f"{category}-1", message(n=1))
    write(store, f"{category}:snapshot-1", message(n=2))
    write(store, f"{category}:position-projector", message(n=3))
    write(store, f"{category}x-1", message(n=4))
    write(store, category, message(n=5))  # a stream named as its category belongs to it

    assert [m.data["n"] for m in store.read_category(category)] == [1, 5]
    assert [m.data["n"] for m in store.read_category(f"{category}:snapshot")] == [2]
    assert [m.data["n"] for m in store.read_category(f"{category}:position")] == [3]
    assert store.read_category(new_category()) == []


def test_consumer_group_members_split_the_streams(store: EventStore) -> None:
    category = new_category()
    streams = [f"{category}-{n}" for n in range(24)] + [f"{category}-7+audit"]
    for n, stream in enumerate(streams):
        write(store, stream, message(n=n), message(n=n))
    write(store, category, message(n=-1))  # no id: no member reads it

    members = [
        read_all(store, category, batch_size=5, consumer_group=ConsumerGroup(member, 4))
        for member in range(4)
    ]

    taken = [{m.stream_name for m in read} for read in members]
    assert sorted(s for streams_of in taken for s in streams_of) == sorted(streams)
    for member, read in enumerate(members):
        assert all(consumer_group_member(m.stream_name, 4) == member for m in read)
        assert [m.global_position for m in read] == sorted(m.global_position for m in read)
    compound = next(n for n, streams_of in enumerate(taken) if f"{category}-7" in streams_of)
    assert f"{category}-7+audit" in taken[compound]  # the cardinal id decides
    assert sum(len(read) for read in members) == 2 * len(streams)


def test_a_correlation_filter_keeps_messages_correlated_with_a_category(
    store: EventStore,
) -> None:
    category = new_category()
    write(
        store,
        f"{category}-1",
        message({"correlationStreamName": "checkout-42"}, n=1),
        message({"correlationStreamName": "billing-9"}, n=2),
        message(None, n=3),
        message({"other": True}, n=4),
        message({"correlationStreamName": "checkout"}, n=5),
    )

    read = store.read_category(category, correlation="checkout")

    assert [m.data["n"] for m in read] == [1, 5]


@pytest.mark.parametrize("bad", ["user-1", "", "-"])
def test_a_name_with_a_dash_is_not_a_category(store: EventStore, bad: str) -> None:
    with pytest.raises(StreamNameError, match="a category is a non-empty name without '-'"):
        store.read_category(bad)
    with pytest.raises(StreamNameError, match="correlation category"):
        store.read_category("user", correlation=bad)


@pytest.mark.parametrize("batch_size", [0, -1, True])
def test_a_batch_size_below_one_is_refused(store: EventStore, batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch size must be an int of at least 1"):
        store.read_category("user", batch_size=batch_size)


@pytest.mark.parametrize(
    ("member", "size", "problem"),
    [
        (0, 0, "size must be 1 to 32767"),
        (0, 40000, "size must be 1 to 32767"),
        (-1, 3, "member must be 0 to 2"),
        (3, 3, "member must be 0 to 2"),
    ],
)
def test_a_consumer_group_outside_its_bounds_is_refused(
    member: int, size: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ConsumerGroup(member, size)


def test_category_and_cardinal_id_follow_messagedb() -> None:
    assert category_of("account:snapshot-1-2") == "account:snapshot"
    assert category_of("account") == "account"
    assert cardinal_id("account-12+audit+x") == "12"
    assert cardinal_id("account-a-b") == "a-b"
    assert cardinal_id("account") is None
    assert consumer_group_member("account", 3) is None


stream_ids = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=40,
)


@pytest.mark.messagedb
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream_id=stream_ids, size=st.integers(1, 32767))
def test_the_in_memory_partition_is_messagedbs(
    messagedb_store: MessageDBEventStore, stream_id: str, size: int
) -> None:
    stream = f"account-{stream_id}"
    rows = messagedb_store._fetch(
        "SELECT MOD(@hash_64(cardinal_id(%s::varchar)), %s::bigint)", (stream, size)
    )
    assert consumer_group_member(stream, size) == rows[0][0]


@pytest.mark.messagedb
def test_both_stores_give_each_member_the_same_streams(
    messagedb_store: MessageDBEventStore,
) -> None:
    category = new_category()
    memory = InMemoryEventStore()
    streams = [f"{category}-{uuid.uuid4()}" for _ in range(30)] + [
        f"{category}-x+{n}" for n in "ab"
    ]
    for stream in streams:
        for target in (memory, messagedb_store):
            write(target, stream, message(s=stream))

    for size in (1, 2, 3, 5):
        for member in range(size):
            group = ConsumerGroup(member, size)
            in_memory = [m.stream_name for m in read_all(memory, category, consumer_group=group)]
            in_messagedb = [
                m.stream_name for m in read_all(messagedb_store, category, consumer_group=group)
            ]
            assert in_memory == in_messagedb


@pytest.mark.messagedb
@pytest.mark.parametrize(
    ("data", "metadata", "problem"),
    [
        (None, None, "stored data is SQL NULL"),
        ("[1]", None, "stored data is an array"),
        ('{"n": 1}', "[]", "stored metadata is an array"),
        ('{"n": 1e400}', None, "not readable JSON"),
    ],
)
@pytest.mark.parametrize("reader", ["plain", "member", "async"])
def test_a_corrupt_row_in_a_category_is_a_stream_data_error_naming_it(
    messagedb_store: MessageDBEventStore,
    messagedb_uri: str,
    data: str | None,
    metadata: str | None,
    problem: str,
    reader: str,
) -> None:
    """A batch decoded at once falls back to row by row, which names the bad row."""
    import psycopg

    category = new_category()
    write(messagedb_store, f"{category}-1", message(n=0))
    with psycopg.connect(messagedb_uri) as conn:
        conn.execute(
            "INSERT INTO message_store.messages (id, stream_name, type, position, data, metadata) "
            "VALUES (gen_random_uuid(), %s, 'Happened', 0, %s::jsonb, %s::jsonb)",
            (f"{category}-2", data, metadata),
        )
    write(messagedb_store, f"{category}-3", message(n=3))

    async def read_async() -> None:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=1) as store:
            await store.read_category(category)

    with pytest.raises(StreamDataError, match=problem) as caught:
        if reader == "async":
            asyncio.run(read_async())
        else:
            group = ConsumerGroup(0, 1) if reader == "member" else None
            messagedb_store.read_category(category, consumer_group=group)
    assert (caught.value.stream_name, caught.value.position) == (f"{category}-2", 0)


@pytest.mark.messagedb
def test_a_category_batch_decoded_at_once_keeps_every_rows_fields(
    messagedb_store: MessageDBEventStore,
) -> None:
    """Rows of several streams, metadata stored or not, read as written, in order."""
    category = new_category()
    written = [
        (f"{category}-{i % 3}", message(None if i % 2 else {"correlationId": f"c{i}"}, n=i))
        for i in range(7)
    ]
    for stream, new in written:
        write(messagedb_store, stream, new)

    read = messagedb_store.read_category(category)
    assert [(m.stream_name, m.id, m.data, m.metadata) for m in read] == [
        (stream, new.id, new.data, new.metadata) for stream, new in written
    ]
    assert [m.position for m in read] == [0, 0, 0, 1, 1, 1, 2]
    assert read == list(_messages(messagedb_store._fetch(_PLAIN_READ, (category,))))


_PLAIN_READ = (
    "SELECT id, stream_name, type, position, global_position, data, metadata, "
    "time AT TIME ZONE 'UTC' FROM get_category_messages(%s)"
)


member_stream_ids = st.one_of(
    st.none(),  # the category's own stream: no id, so no member reads it
    stream_ids,
    st.builds(lambda head, tail: f"{head}+{tail}", stream_ids, stream_ids),  # compound ids
    st.text(st.sampled_from("ab+-é😀"), max_size=6),  # '+' and '-' anywhere, empty ids
)


@pytest.mark.messagedb
def test_a_plain_read_is_messagedbs_get_category_messages(
    messagedb_store: MessageDBEventStore,
) -> None:
    category = new_category()
    for stream in (f"{category}-1", category, f"{category}-2+x", f"{category}:position-c"):
        write(messagedb_store, stream, message(n=1), message({"correlationId": "c"}, n=2))
    write(messagedb_store, f"{category}-1", message(None, nested={"a": [1, 2.5, None]}))

    def messagedbs(position: int, batch_size: int) -> list[RecordedMessage]:
        rows = messagedb_store._fetch(
            "SELECT id, stream_name, type, position, global_position, data, metadata, "
            "time AT TIME ZONE 'UTC' FROM get_category_messages(%s, %s, %s)",
            (category, position, batch_size),
        )
        return list(_messages(rows))

    everything = messagedbs(1, 1000)
    assert len(everything) == 7, "the category's own stream in, its position stream out"
    third = everything[2].global_position
    for position, batch_size in ((1, 1000), (1, 2), (third, 3), (third + 1, 1000)):
        read = messagedb_store.read_category(category, position, batch_size=batch_size)
        assert read == messagedbs(position, batch_size)


@pytest.mark.messagedb
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(member_stream_ids, min_size=1, max_size=8), size=st.integers(1, 32767))
def test_a_members_read_is_messagedbs_get_category_messages(
    messagedb_store: MessageDBEventStore, ids: list[str | None], size: int
) -> None:
    category = new_category()
    streams = [category if stream_id is None else f"{category}-{stream_id}" for stream_id in ids]
    for stream in streams:
        write(messagedb_store, stream, message(s=stream))
    members = {0, size - 1} | {consumer_group_member(s, size) or 0 for s in streams}

    taken: list[str] = []
    for member in sorted(members):
        group = ConsumerGroup(member, size)
        read = [m.id for m in read_all(messagedb_store, category, consumer_group=group)]
        rows = messagedb_store._fetch(
            "SELECT id::varchar FROM get_category_messages(%s, 1, 1000, NULL, %s, %s)",
            (category, member, size),
        )
        assert read == [row[0] for row in rows]
        taken += read
    with_ids = [s for s in streams if "-" in s]
    assert len(taken) == len(set(taken)) == len(with_ids)


@pytest.mark.messagedb
def test_a_members_read_with_a_correlation_is_messagedbs(
    messagedb_store: MessageDBEventStore,
) -> None:
    category = new_category()
    for n in range(12):
        correlation = ["checkout-1", "checkout", "billing-2", None][n % 4]
        metadata = None if correlation is None else {"correlationStreamName": correlation}
        write(messagedb_store, f"{category}-{n % 5}+x", message(metadata, n=n))

    for member in range(3):
        read = read_all(
            messagedb_store,
            category,
            batch_size=2,
            consumer_group=ConsumerGroup(member, 3),
            correlation="checkout",
        )
        rows = messagedb_store._fetch(
            "SELECT id::varchar FROM get_category_messages(%s, 1, 1000, 'checkout', %s, 3)",
            (category, member),
        )
        assert [m.id for m in read] == [row[0] for row in rows]


@pytest.mark.messagedb
def test_a_members_read_scans_a_large_category_in_order_without_messagedbs_functions(
    messagedb_store: MessageDBEventStore,
) -> None:
    # MessageDB's own filter calls PL/pgSQL functions for each row it scans (tens of
    # microseconds each), and PostgreSQL, which cannot estimate a hash, expects it to
    # keep almost nothing, so for a category of thousands of messages it hashes and
    # sorts the whole category instead of reading it in order up to the batch's end.
    # The member's read computes the partition in plain SQL, and is planned as a scan
    # of the category in global order (no sort).
    category = new_category()
    messagedb_store.append(
        [
            StreamWrite(f"{category}-{n}", None, [message(i=i) for i in range(10)])
            for n in range(300)
        ]
    )
    messagedb_store._run(lambda conn: conn.execute("ANALYZE messages"), messagedb_store._pool)
    for correlation in (None, "checkout"):
        query, params = _category_query(category, 1, 100, ConsumerGroup(1, 4), correlation)
        rows = messagedb_store._fetch("EXPLAIN (FORMAT JSON, VERBOSE) " + query, params)
        plan = json.dumps(rows[0][0])
        assert '"Node Type": "Index Scan"' in plan
        assert '"Relation Name": "messages"' in plan
        assert "md5" in plan
        for unwanted in ('"Sort"', "hash_64", "cardinal_id", "get_category_messages"):
            assert unwanted not in plan


_PREPARED_CATEGORY_READS = (
    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%categor%%'"
)
"""Category reads prepared on this session: the inline member read or MessageDB's."""


@pytest.mark.messagedb
def test_a_members_read_is_never_a_prepared_statement(messagedb_uri: str) -> None:
    # After five runs of a prepared statement PostgreSQL may switch to a generic plan,
    # which for a member's read hashes and sorts the whole category: the read is sent
    # unprepared, so that it is planned for its values every time.
    category = new_category()
    with MessageDBEventStore(messagedb_uri, max_size=1) as store:  # one connection
        write(store, f"{category}-1", message(n=1))
        for _ in range(8):
            store.read_category(category, consumer_group=ConsumerGroup(0, 2))
        rows = store._fetch(_PREPARED_CATEGORY_READS, ())
    assert rows[0][0] == 0


@pytest.mark.messagedb
def test_an_async_members_read_is_the_sync_stores_unprepared_read(messagedb_uri: str) -> None:
    # The async store sends the sync store's member read (the partition computed
    # inline, never prepared), not MessageDB's get_category_messages with a group.
    category = new_category()
    group = ConsumerGroup(0, 2)

    async def main() -> tuple[list[RecordedMessage], int]:
        async with AsyncMessageDBEventStore(messagedb_uri, max_size=1) as store:
            await store.append(
                [StreamWrite(f"{category}-{n}", None, [message(n=n)]) for n in range(6)]
            )
            for _ in range(8):
                read = await store.read_category(category, consumer_group=group)
            rows = await store._fetch(store._pool, _PREPARED_CATEGORY_READS, ())
        return read, rows[0][0]

    read, prepared = asyncio.run(main())
    with MessageDBEventStore(messagedb_uri) as sync_store:
        assert read == sync_store.read_category(category, consumer_group=group)
    assert read
    assert all(group.takes(m.stream_name) for m in read)
    assert prepared == 0
