"""The event store contract, run against the in-memory store and real MessageDB."""

from __future__ import annotations

import uuid

import pytest

from aggregen.runtime import (
    DuplicateMessageError,
    EventStore,
    EventStoreError,
    ExpectedVersionError,
    NewMessage,
    StreamWrite,
)


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    """This module's tests run against all four stores, sync and async."""
    return any_store


def new_stream(category: str = "conformance") -> str:
    return f"{category}-{uuid.uuid4()}"


def message(type_name: str = "Happened", **data: object) -> NewMessage:
    return NewMessage(str(uuid.uuid4()), type_name, dict(data), {"schemaVersion": 1})


def test_appended_messages_read_back_in_order_with_positions(store: EventStore) -> None:
    stream = new_stream()
    sent = [message(n=i, text='é ✓ "quoted"', nested={"a": [1, None, True]}) for i in range(5)]
    store.append([StreamWrite(stream, -1, sent)])

    read = list(store.read(stream))

    assert [m.position for m in read] == [0, 1, 2, 3, 4]
    assert [(m.id, m.type, m.data, m.metadata) for m in read] == [
        (m.id, m.type, m.data, m.metadata) for m in sent
    ]
    assert all(m.stream_name == stream for m in read)
    globals_ = [m.global_position for m in read]
    assert globals_ == sorted(globals_)
    assert len(set(globals_)) == 5
    assert all(m.time.tzinfo is not None for m in read)


def test_read_from_a_position_and_the_last_message(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message(n=i) for i in range(4)])])

    assert [m.data["n"] for m in store.read(stream, 2)] == [2, 3]
    last = store.read_last(stream)
    assert last is not None
    assert (last.position, last.data) == (3, {"n": 3})
    assert store.stream_version(stream) == 3


def test_an_unknown_stream_is_empty(store: EventStore) -> None:
    stream = new_stream()
    assert list(store.read(stream)) == []
    assert store.read_last(stream) is None
    assert store.stream_version(stream) == -1


def test_a_category_name_reads_as_an_empty_stream(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message()])])
    category = stream.split("-", 1)[0]
    assert list(store.read(category)) == []


def test_expected_version_is_checked(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message(), message()])])

    with pytest.raises(ExpectedVersionError) as caught:
        store.append([StreamWrite(stream, 0, [message(n="late")])])

    assert (caught.value.stream_name, caught.value.expected_version) == (stream, 0)
    assert caught.value.actual_version == 1
    assert store.stream_version(stream) == 1
    store.append([StreamWrite(stream, 1, [message(n="next")])])
    assert store.stream_version(stream) == 2


def test_a_new_stream_must_not_exist(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message()])])
    with pytest.raises(ExpectedVersionError) as caught:
        store.append([StreamWrite(stream, -1, [message()])])
    assert (caught.value.expected_version, caught.value.actual_version) == (-1, 0)


def test_no_expected_version_appends_anyway(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, None, [message()])])
    store.append([StreamWrite(stream, None, [message(), message()])])
    assert store.stream_version(stream) == 2


def test_two_writes_to_one_stream_in_one_append_follow_each_other(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message(n=0)]), StreamWrite(stream, 0, [message(n=1)])])
    assert [m.data["n"] for m in store.read(stream)] == [0, 1]


def test_a_failed_append_stores_nothing_of_any_stream(store: EventStore) -> None:
    first, second, third = new_stream("alpha"), new_stream("beta"), new_stream("gamma")
    store.append([StreamWrite(second, -1, [message()])])

    with pytest.raises(ExpectedVersionError):
        store.append(
            [
                StreamWrite(first, -1, [message(), message()]),
                StreamWrite(second, -1, [message()]),
                StreamWrite(third, -1, [message()]),
            ]
        )

    assert store.stream_version(first) == -1
    assert store.stream_version(second) == 0
    assert store.stream_version(third) == -1


def test_a_message_id_is_stored_once(store: EventStore) -> None:
    stream, other = new_stream(), new_stream()
    taken = message()
    store.append([StreamWrite(stream, -1, [taken])])

    with pytest.raises(DuplicateMessageError) as caught:
        store.append([StreamWrite(other, -1, [message(), taken])])

    assert caught.value.message_id == taken.id
    assert store.stream_version(other) == -1


def test_a_message_id_must_be_a_uuid(store: EventStore) -> None:
    stream = new_stream()
    bad = NewMessage("not-a-uuid", "Happened", {}, None)
    with pytest.raises(ValueError, match="UUID"):
        store.append([StreamWrite(stream, -1, [bad])])
    assert store.stream_version(stream) == -1


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (NewMessage("not-a-uuid", "Happened", {}, None), ValueError, "UUID"),
        (NewMessage(str(uuid.uuid4()), "Happened", {"when": object()}, None), TypeError, "JSON"),
        (NewMessage(str(uuid.uuid4()), "Happened", {}, {"x": {1, 2}}), TypeError, "JSON"),
    ],
    ids=["id", "data", "metadata"],
)
def test_a_bad_message_late_in_an_append_stores_nothing(
    store: EventStore, bad: NewMessage, error: type[Exception], match: str
) -> None:
    """Messages are made as they are sent: one that cannot be made still stores nothing."""
    first, second = new_stream("alpha"), new_stream("beta")
    writes = [
        StreamWrite(first, -1, [message(n=i) for i in range(20)]),
        StreamWrite(second, -1, [message(n=20), bad, message(n=21)]),
    ]
    with pytest.raises(error, match=match):
        store.append(writes)
    assert store.stream_version(first) == -1
    assert store.stream_version(second) == -1

    # The store is still usable, and the same streams can be written.
    store.append([StreamWrite(first, -1, [message()]), StreamWrite(second, -1, [message()])])
    assert store.stream_version(first) == 0
    assert store.stream_version(second) == 0


def test_metadata_may_be_absent(store: EventStore) -> None:
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [NewMessage(str(uuid.uuid4()), "T", {"a": 1}, None)])])
    (read,) = store.read(stream)
    assert read.metadata is None


def test_messages_with_and_without_metadata_read_back_as_written(store: EventStore) -> None:
    stream = new_stream()
    metadatas = [None, {"schemaVersion": 2}, None, {"correlationId": "c"}]
    messages = [
        NewMessage(str(uuid.uuid4()), "T", {"n": n}, metadata)
        for n, metadata in enumerate(metadatas)
    ]
    store.append([StreamWrite(stream, -1, messages)])
    assert [(m.data, m.metadata) for m in store.read(stream)] == [
        ({"n": n}, metadata) for n, metadata in enumerate(metadatas)
    ]
    assert [m.metadata for m in store.read(stream, 1)] == metadatas[1:]


def test_data_is_a_copy(store: EventStore) -> None:
    stream = new_stream()
    data = {"items": [1, 2]}
    store.append([StreamWrite(stream, -1, [NewMessage(str(uuid.uuid4()), "T", data, None)])])
    data["items"].append(3)
    (first,) = store.read(stream)
    first.data["items"].append(4)
    (again,) = store.read(stream)
    assert again.data == {"items": [1, 2]}


def test_long_streams_read_completely_across_pages(store: EventStore) -> None:
    stream = new_stream()
    for start in range(0, 2500, 500):
        store.append([StreamWrite(stream, start - 1, [message(n=start + i) for i in range(500)])])
    numbers = [m.data["n"] for m in store.read(stream)]
    assert numbers == list(range(2500))
    assert [m.position for m in store.read(stream, 1999)][:2] == [1999, 2000]


def test_appending_the_same_messages_again_stores_them_once(store: EventStore) -> None:
    """The retry of a commit whose outcome was unknown must not store it twice."""
    first, second = new_stream("alpha"), new_stream("beta")
    writes = [
        StreamWrite(first, -1, [message(n=1), message(n=2)]),
        StreamWrite(second, -1, [message(n=3)]),
    ]
    store.append(writes)
    store.append(writes)

    assert [m.data["n"] for m in store.read(first)] == [1, 2]
    assert [m.data["n"] for m in store.read(second)] == [3]


def test_a_retry_without_expected_version_stores_once(store: EventStore) -> None:
    stream = new_stream()
    writes = [StreamWrite(stream, None, [message(n=1)])]
    store.append(writes)
    store.append(writes)
    assert store.stream_version(stream) == 0


def test_a_partly_stored_append_is_still_a_conflict(store: EventStore) -> None:
    stream, other = new_stream(), new_stream()
    stored = message(n=1)
    store.append([StreamWrite(stream, -1, [stored])])
    with pytest.raises(ExpectedVersionError):
        store.append([StreamWrite(stream, -1, [stored]), StreamWrite(other, -1, [message()])])
    with pytest.raises(DuplicateMessageError):
        store.append([StreamWrite(other, -1, [stored])])
    assert store.stream_version(other) == -1


@pytest.mark.parametrize(
    "data",
    [{"text": "a\x00b"}, {"items": ["ok", "\\\x00"]}, {"key\x00": 1}],
    ids=["value", "list-item-after-a-backslash", "key"],
)
def test_a_nul_character_is_refused_by_every_store_and_nothing_is_stored(
    store: EventStore, data: dict[str, object]
) -> None:
    stream = new_stream()
    other = new_stream("other")
    with pytest.raises(EventStoreError) as refused:
        store.append(
            [
                StreamWrite(other, -1, [message(text="fine")]),
                StreamWrite(stream, -1, [NewMessage(str(uuid.uuid4()), "T", data, None)]),
            ]
        )
    # One line, the same on every store, and no event data (PostgreSQL's CONTEXT quotes it).
    assert str(refused.value) == (
        "event store failed: unsupported Unicode escape sequence "
        "(\\u0000 cannot be converted to text)"
    )
    assert list(store.read(stream)) == []
    assert list(store.read(other)) == []


def test_text_every_store_holds_reads_back_unchanged(store: EventStore) -> None:
    texts = ["\\u0000", "\\\\u0000", "\x01\x1f\x7f", "\u2028\ufffe\uffff", "\U0001f600", ""]
    stream = new_stream()
    store.append([StreamWrite(stream, -1, [message(texts=texts, **{"\\u0000": "key"})])])
    (stored,) = store.read(stream)
    assert stored.data == {"texts": texts, "\\u0000": "key"}


def test_an_id_is_one_id_whatever_its_case_and_reads_back_as_messagedb_gives_it(
    store: EventStore,
) -> None:
    """MessageDB keeps ids in a uuid column. The store model found that the in-memory
    store took `ABC...` and `abc...` as two ids and gave `ABC...` back, that JetStream
    gave it back too, and that MessageDB refused the retry of an append of `ABC...`
    (`DuplicateMessageError`) instead of taking it as stored."""
    stream, other = new_stream(), new_stream()
    upper = str(uuid.uuid4()).upper()
    braced = "{" + str(uuid.uuid4()) + "}"
    unit = [StreamWrite(stream, -1, [NewMessage(upper, "A", {}, None)])]
    store.append(unit)
    store.append(unit)  # a retry: stored already
    store.append([StreamWrite(stream, 0, [NewMessage(braced, "A", {}, None)])])
    assert [m.id for m in store.read(stream)] == [upper.lower(), braced[1:-1]]
    with pytest.raises(DuplicateMessageError) as caught:
        store.append([StreamWrite(other, -1, [NewMessage(upper.lower(), "A", {}, None)])])
    assert caught.value.message_id == upper.lower()
    assert store.stream_version(other) == -1


def test_an_append_takes_global_positions_category_by_category_in_sorted_order(
    store: EventStore,
) -> None:
    """As MessageDB writes them (its lock per category, taken in one order). The store
    model found that JetStream gave them in the order of the writes."""
    later, earlier = new_stream("conformanceZeta"), new_stream("conformanceAlpha")
    store.append([StreamWrite(later, -1, [message()]), StreamWrite(earlier, -1, [message()])])
    (z,), (a,) = list(store.read(later)), list(store.read(earlier))
    assert a.global_position < z.global_position


def test_of_two_messages_that_cannot_be_made_the_first_by_category_is_the_error(
    store: EventStore,
) -> None:
    """Stores make an append's messages category by category, as MessageDB writes them.
    The store model found that the in-memory store made them in the order of the writes
    (here: the NUL character's `EventStoreError` instead of the id's `ValueError`)."""
    later, earlier = new_stream("conformanceZeta"), new_stream("conformanceAlpha")
    with pytest.raises(ValueError, match="must be a UUID"):
        store.append(
            [
                StreamWrite(later, -1, [NewMessage(str(uuid.uuid4()), "A", {"s": "\x00"}, None)]),
                StreamWrite(earlier, -1, [NewMessage("not-a-uuid", "A", {}, None)]),
            ]
        )
    assert store.stream_version(later) == store.stream_version(earlier) == -1
