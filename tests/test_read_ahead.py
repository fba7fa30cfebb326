"""`ReadAhead`: which batches it hands out, and which errors, whatever it read ahead."""

from __future__ import annotations

import datetime
import threading
import weakref

import pytest

from aggregen.runtime import RecordedMessage
from aggregen.runtime.read_ahead import ReadAhead, draining

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


class Category:
    """A category of `size` messages at global positions 1..size; records each read."""

    def __init__(self, size: int, failing_from: int | None = None) -> None:
        self.size = size
        self.failing_from = failing_from
        self.reads: list[int] = []
        self.threads: set[str] = set()

    def read(self, position: int, batch_size: int = 2) -> list[RecordedMessage]:
        self.reads.append(position)
        self.threads.add(threading.current_thread().name)
        if self.failing_from is not None and position >= self.failing_from:
            raise RuntimeError(f"read from {position} failed")
        last = min(self.size, position + batch_size - 1)
        return [
            RecordedMessage(f"id{n}", "c-1", "T", n - 1, n, {}, None, EPOCH)
            for n in range(position, last + 1)
        ]


def positions(batch: list[RecordedMessage]) -> list[int]:
    return [m.global_position for m in batch]


def test_a_full_batch_has_the_next_read_ahead_on_another_thread() -> None:
    category = Category(5)
    reader = ReadAhead(category.read, 2)
    try:
        assert positions(reader.batch(1)) == [1, 2]
        assert positions(reader.batch(3)) == [3, 4]
        # the last batch is short: read again when asked for, never taken as read ahead
        assert positions(reader.batch(5)) == [5]
        assert category.reads == [1, 3, 5, 5]
        assert any(name.startswith("aggregen-read-ahead") for name in category.threads)
    finally:
        reader.close()


def test_the_read_ahead_has_begun_when_a_batch_is_handed_out() -> None:
    """The worker runs before the batch goes to the handler: its query reaches the
    database while the batch is handled, not when the handler next lets go of the GIL."""
    category = Category(9)
    reader = ReadAhead(category.read, 2)
    try:
        for start in (1, 3, 5):
            assert positions(reader.batch(start)) == [start, start + 1]
            assert category.reads[-1] == start + 2, "the next batch's read has begun"
    finally:
        reader.close()


def test_a_batch_asked_for_from_elsewhere_is_read_now() -> None:
    category = Category(9)
    reader = ReadAhead(category.read, 2)
    try:
        reader.batch(1)
        assert positions(reader.batch(2)) == [2, 3], "not the batch read ahead from 3"
    finally:
        reader.close()


def test_a_failed_read_ahead_is_read_again_when_its_batch_is_asked_for() -> None:
    category = Category(9, failing_from=3)
    reader = ReadAhead(category.read, 2)
    try:
        reader.batch(1)
        with pytest.raises(RuntimeError, match="read from 3 failed"):
            reader.batch(3)
        assert category.reads == [1, 3, 3], "the failed read ahead, then the read now"
        category.failing_from = None  # the database is back
        reader.batch(1)
        assert positions(reader.batch(3)) == [3, 4]
    finally:
        reader.close()

    unused = ReadAhead(category.read, 2)
    unused.batch(1)
    unused.close()  # the failed read ahead was never needed: nothing raised


def test_close_ends_the_thread() -> None:
    reader = ReadAhead(Category(9).read, 2)
    reader.batch(1)
    reader.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("aggregen-read-ahead")]


def test_not_enabled_it_reads_only_when_asked() -> None:
    category = Category(9)
    reader = ReadAhead(category.read, 2, enabled=False)
    try:
        assert positions(reader.batch(1)) == [1, 2]
        assert positions(reader.batch(3)) == [3, 4]
        assert category.reads == [1, 3]
        assert not any(name.startswith("aggregen-read-ahead") for name in category.threads)
    finally:
        reader.close()


class Data(dict[str, int]):
    """Message data a weak reference can watch (a plain dict cannot be)."""


def test_draining_hands_out_the_batch_in_order_and_leaves_it_as_it_was() -> None:
    batch = Category(5).read(1, batch_size=5)
    original = list(batch)
    assert list(draining(batch)) == original
    assert batch == original


def test_draining_lets_a_message_go_once_the_next_is_asked_for() -> None:
    watched = [Data(n=n) for n in range(3)]
    alive = [weakref.ref(data) for data in watched]
    batch = [
        RecordedMessage(f"id{n}", "c-1", "T", n, n + 1, data, None, EPOCH)
        for n, data in enumerate(watched)
    ]
    del watched
    messages = draining(batch)
    del batch  # as a consumer does: the generator holds the only reference
    first = next(messages)
    assert first.data == {"n": 0}
    del first
    second = next(messages)
    assert second.data == {"n": 1}
    assert [ref() is None for ref in alive] == [True, False, False]
