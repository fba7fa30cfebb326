"""Consumers and their position store, on the four stores: in memory and MessageDB, sync and async.

On the async stores the consumer is an `AsyncConsumer` (through `consumer_for`), so
the same assertions hold for both faces of the consumer.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid

import pytest

from aggregen.runtime import (
    Consumer,
    ConsumerError,
    ConsumerGroup,
    EventStore,
    InMemoryEventStore,
    NewMessage,
    PositionStore,
    RecordedMessage,
    StreamDataError,
    StreamNameError,
    StreamWrite,
    current_cause,
)
from tests.async_support import consumer_for


@pytest.fixture
def store(any_store: EventStore) -> EventStore:
    """Every test runs on the four stores; on the async ones with `AsyncConsumer`."""
    return any_store


@pytest.fixture(params=["memory", "messagedb"])
def sync_store(request: pytest.FixtureRequest) -> EventStore:
    """The two synchronous stores, for what only `Consumer` has (reading ahead)."""
    if request.param == "memory":
        return InMemoryEventStore()
    messagedb: EventStore = request.getfixturevalue("messagedb_store")
    return messagedb


def new_category() -> str:
    return "cons" + uuid.uuid4().hex[:12]


def write(store: EventStore, stream: str, count: int, start: int = 0) -> None:
    messages = [NewMessage(str(uuid.uuid4()), "Counted", {"n": n}, None) for n in range(count)]
    for offset, message in enumerate(messages):
        message.data["n"] = start + offset
    store.append([StreamWrite(stream, None, messages)])


class Recorder:
    """Keeps what it handled; fails on the message whose `n` is `fail_at`."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.handled: list[RecordedMessage] = []
        self.fail_at = fail_at

    def handle(self, message: RecordedMessage) -> None:
        if message.data["n"] == self.fail_at:
            raise RuntimeError("the read model is down")
        self.handled.append(message)


def recorded_positions(store: EventStore, category: str, name: str) -> list[int]:
    stream = PositionStore(store, category, name).stream_name
    return [m.data["position"] for m in store.read(stream)]


def test_catch_up_handles_everything_in_global_order_and_records_where_it_got(
    store: EventStore,
) -> None:
    category = new_category()
    write(store, f"{category}-a", 3)
    write(store, f"{category}-b", 2, start=3)
    recorder = Recorder()
    consumer = consumer_for(store, category, recorder, name="projector")

    assert consumer.catch_up() == 5

    assert [m.data["n"] for m in recorder.handled] == [0, 1, 2, 3, 4]
    last = recorder.handled[-1].global_position
    assert consumer.position == last
    assert PositionStore(store, category, "projector").get() == last
    assert recorded_positions(store, category, "projector") == [last]
    assert consumer.catch_up() == 0
    assert recorded_positions(store, category, "projector") == [last], "nothing new: no write"


def test_a_new_consumer_resumes_after_the_recorded_position(store: EventStore) -> None:
    category = new_category()
    write(store, f"{category}-a", 4)
    consumer_for(store, category, Recorder(), name="projector").catch_up()
    write(store, f"{category}-a", 2, start=4)

    recorder = Recorder()
    assert consumer_for(store, category, recorder, name="projector").catch_up() == 2
    assert [m.data["n"] for m in recorder.handled] == [4, 5]
    other = Recorder()
    consumer_for(store, category, other, name="another").catch_up()
    assert len(other.handled) == 6, "each consumer name has its own position"


def test_the_position_is_recorded_every_interval_and_at_the_end(store: EventStore) -> None:
    category = new_category()
    for n in range(25):
        write(store, f"{category}-{n % 4}", 1, start=n)
    recorder = Recorder()

    consumer_for(
        store, category, recorder, name="p", position_update_interval=10, batch_size=7
    ).catch_up()

    positions = [m.global_position for m in recorder.handled]
    assert recorded_positions(store, category, "p") == [positions[9], positions[19], positions[24]]


def test_a_failing_handler_stops_the_consumer_at_that_message(store: EventStore) -> None:
    category = new_category()
    write(store, f"{category}-a", 5)
    consumer = consumer_for(store, category, Recorder(fail_at=3), name="p")

    with pytest.raises(ConsumerError) as caught:
        consumer.catch_up()

    error = caught.value
    assert (error.stream_name, error.position, error.message_type) == (
        f"{category}-a",
        3,
        "Counted",
    )
    assert error.handler == "Recorder"
    assert isinstance(error.__cause__, RuntimeError)
    assert f"'{category}-a' position 3" in str(error)
    assert "Recorder failed on Counted" in str(error)
    assert "the read model is down" in str(error)
    handled_before = store.read_category(category)[2].global_position
    assert PositionStore(store, category, "p").get() == handled_before

    recovered = Recorder()
    consumer_for(store, category, recovered, name="p").catch_up()
    assert [m.data["n"] for m in recovered.handled] == [3, 4], "nothing skipped"


def test_group_members_together_handle_each_stream_once_in_order(store: EventStore) -> None:
    category = new_category()
    for round_ in range(3):
        for stream in range(12):
            write(store, f"{category}-{stream}", 1, start=round_)
    members = [Recorder() for _ in range(3)]

    for member, recorder in enumerate(members):
        consumer_for(
            store, category, recorder, name="g", consumer_group=ConsumerGroup(member, 3)
        ).catch_up()

    owners: dict[str, set[int]] = {}
    for member, recorder in enumerate(members):
        for message in recorder.handled:
            owners.setdefault(message.stream_name, set()).add(member)
    assert len(owners) == 12
    assert all(len(found) == 1 for found in owners.values())
    for recorder in members:
        per_stream: dict[str, list[int]] = {}
        for message in recorder.handled:
            per_stream.setdefault(message.stream_name, []).append(message.position)
        assert all(positions == [0, 1, 2] for positions in per_stream.values())
    assert PositionStore(store, category, "g+0of3").get() is not None


def test_run_polls_for_new_messages_until_stopped(store: EventStore) -> None:
    category = new_category()
    write(store, f"{category}-a", 2)
    recorder = Recorder()
    consumer = consumer_for(store, category, recorder, name="live", poll_interval=0.01)
    runner = threading.Thread(target=consumer.run)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(recorder.handled) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        write(store, f"{category}-b", 3, start=2)
        while len(recorder.handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        consumer.stop()
        runner.join(10)
    assert not runner.is_alive()
    assert [m.data["n"] for m in recorder.handled] == [0, 1, 2, 3, 4]
    assert PositionStore(store, category, "live").get() == recorder.handled[-1].global_position


def test_a_position_message_without_a_position_is_a_stream_data_error(store: EventStore) -> None:
    category = new_category()
    positions = PositionStore(store, category, "p")
    store.append(
        [
            StreamWrite(
                positions.stream_name, None, [NewMessage(str(uuid.uuid4()), "Updated", {}, None)]
            )
        ]
    )
    with pytest.raises(StreamDataError, match="whole-number 'position'"):
        positions.get()


@pytest.mark.parametrize("name", ["", "two words", "tab\there"])
def test_a_consumer_name_must_be_usable_in_a_stream_name(store: EventStore, name: str) -> None:
    with pytest.raises(StreamNameError):
        consumer_for(store, "orders", Recorder(), name=name)


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("position_update_interval", 0, "position_update_interval must be an int of at least 1"),
        ("poll_interval", 0, "poll_interval must be above 0 seconds"),
        ("batch_size", 0, "batch size must be an int of at least 1"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    store: EventStore, option: str, value: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        consumer_for(store, "orders", Recorder(), name="p", **{option: value})


@pytest.mark.parametrize("read_ahead", [True, False])
def test_messages_a_handler_writes_into_its_category_are_handled_in_the_same_catch_up(
    sync_store: EventStore, read_ahead: bool
) -> None:
    store = sync_store
    # Batches of 2 over 3 messages: the batch after the first is read ahead while the
    # first is handled, and may miss the message the handler writes; catch_up must
    # handle it all the same, as it does without reading ahead.
    category = new_category()
    write(store, f"{category}-a", 3)

    class Reacting(Recorder):
        def handle(self, message: RecordedMessage) -> None:
            super().handle(message)
            if message.data["n"] == 0:
                write(store, f"{category}-b", 1, start=100)

    recorder = Reacting()
    consumer = Consumer(store, category, recorder, name="r", batch_size=2, read_ahead=read_ahead)
    assert consumer.catch_up() == 4
    assert [m.data["n"] for m in recorder.handled] == [0, 1, 2, 100]


def test_no_reading_thread_outlives_a_consumer_that_stopped_on_a_failure(
    sync_store: EventStore,
) -> None:
    store = sync_store
    category = new_category()
    write(store, f"{category}-a", 9)
    consumer = Consumer(store, category, Recorder(fail_at=4), name="p", batch_size=3)

    with pytest.raises(ConsumerError):
        consumer.catch_up()

    assert not [t for t in threading.enumerate() if t.name.startswith("aggregen-read-ahead")]
    recovered = Recorder()
    Consumer(store, category, recovered, name="p", batch_size=3).catch_up()
    assert [m.data["n"] for m in recovered.handled] == [4, 5, 6, 7, 8], "nothing skipped"


def test_each_message_is_the_cause_while_it_is_handled_and_none_after(store: EventStore) -> None:
    category = new_category()
    write(store, f"{category}-a", 3)
    write(store, f"{category}-b", 2, start=3)
    causes = []

    class Causes(Recorder):
        def handle(self, message: RecordedMessage) -> None:
            super().handle(message)
            cause = current_cause()
            assert cause is not None
            causes.append((cause.message_id, cause.stream_name, cause.global_position))

    recorder = Causes()
    consumer_for(store, category, recorder, name="c", batch_size=2).catch_up()

    assert causes == [(m.id, m.stream_name, m.global_position) for m in recorder.handled]
    assert len(causes) == 5
    assert current_cause() is None


def test_a_context_copied_while_a_message_is_handled_keeps_that_message_as_its_cause(
    sync_store: EventStore,
) -> None:
    """Work a handler hands on (a thread, a task) with a copy of its context raises events
    caused by the message it was handed on from, even after the consumer moved on."""
    store = sync_store
    category = new_category()
    write(store, f"{category}-a", 4)
    copies: list[tuple[RecordedMessage, contextvars.Context]] = []

    class HandsOn(Recorder):
        def handle(self, message: RecordedMessage) -> None:
            super().handle(message)
            copies.append((message, contextvars.copy_context()))

    Consumer(store, category, HandsOn(), name="c", batch_size=2).catch_up()

    assert len(copies) == 4
    for message, context in copies:
        cause = context.run(current_cause)
        assert cause is not None
        assert (cause.message_id, cause.global_position) == (message.id, message.global_position)
    assert current_cause() is None
