"""Generated handlers and causation, on the in-memory store and real MessageDB.

Handlers decode each message to its typed event (upcasting as `get` does); events
raised while a consumer handles a message carry its causation, read back alike on
both stores.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from banking import BankAccountHandler, Customer, CustomerRepository, StatusChanged
from identity import Registered, Renamed, User, UserHandler, UserRepository

from aggregen.runtime import (
    Consumer,
    ConsumerError,
    Event,
    EventStore,
    NewMessage,
    PositionStore,
    Projector,
    SQLiteProjectionTarget,
    StreamDataError,
    StreamWrite,
    correlated,
)
from aggregen.runtime.decoding import UnknownEventTypeError


class Recorder(UserHandler):
    def __init__(self) -> None:
        self.events: list[Registered | Renamed] = []

    def on_registered(self, event: Registered) -> None:
        self.events.append(event)

    def on_renamed(self, event: Renamed) -> None:
        self.events.append(event)


def test_a_handler_gets_typed_events_with_their_metadata(store: EventStore) -> None:
    users = UserRepository(store)
    user = User.register(email="ann@example.org", first_name="Ann")
    user.rename(first_name="Anna")
    users.add(user)
    recorder = Recorder()
    stream = User.stream_name(user.id)

    for message in store.read(stream):
        recorder.handle(message)

    assert recorder.events == [
        Registered(email="ann@example.org", first_name="Ann"),
        Renamed(first_name="Anna"),
    ]
    metadata = [e.metadata for e in recorder.events]
    assert [(m.stream_name, m.position) for m in metadata if m] == [(stream, 0), (stream, 1)]
    assert all(m is not None and m.global_position for m in metadata)


def test_older_versions_are_upcast_and_newer_ones_refused(store: EventStore) -> None:
    stream = f"bankAccount-{uuid.uuid4()}"
    old = NewMessage(str(uuid.uuid4()), "StatusChanged", {"new_status": "frozen"}, {})
    newer = NewMessage(
        str(uuid.uuid4()), "StatusChanged", {"new_status": "open"}, {"schemaVersion": 3}
    )
    store.append([StreamWrite(stream, -1, [old, newer])])
    seen: list[StatusChanged] = []

    class Statuses(BankAccountHandler):
        def on_status_changed(self, event: StatusChanged) -> None:
            seen.append(event)

    first, second = store.read(stream)
    Statuses().handle(first)
    assert seen == [StatusChanged(new_status="frozen", reason=None)]
    assert seen[0].metadata is not None
    assert seen[0].metadata.schema_version == 1
    with pytest.raises(StreamDataError, match="newer than StatusChanged's 2") as caught:
        Statuses().handle(second)
    assert (caught.value.stream_name, caught.value.position) == (stream, 1)


def test_an_unknown_type_stops_the_consumer_unless_the_handler_skips_it(
    store: EventStore,
) -> None:
    user = User.register(email="x@example.org", id=str(uuid.uuid4()))
    UserRepository(store).add(user)
    stream = User.stream_name(user.id)
    store.append(
        [StreamWrite(stream, 0, [NewMessage(str(uuid.uuid4()), "Promoted", {"level": 2}, None)])]
    )
    messages = list(store.read(stream))

    with pytest.raises(UnknownEventTypeError, match="unknown event type 'Promoted'") as caught:
        Recorder().handle(messages[1])
    assert (caught.value.stream_name, caught.value.position) == (stream, 1)

    class Tolerant(Recorder):
        skip_unknown_types = True

    tolerant = Tolerant()
    for message in messages:
        tolerant.handle(message)
    assert [type(e) for e in tolerant.events] == [Registered]


def test_a_consumer_stops_at_an_unknown_type_naming_it(store: EventStore) -> None:
    category = "handled" + uuid.uuid4().hex[:10]
    store.append(
        [
            StreamWrite(
                f"{category}-1",
                -1,
                [NewMessage(str(uuid.uuid4()), "Promoted", {}, None)],
            )
        ]
    )
    with pytest.raises(ConsumerError) as caught:
        Consumer(store, category, Recorder(), name="strict").catch_up()
    assert isinstance(caught.value.__cause__, UnknownEventTypeError)
    assert "Recorder failed on Promoted" in str(caught.value)


def test_a_type_the_handler_does_not_handle_is_not_decoded(store: EventStore) -> None:
    """As in Eventide: a message whose `on_<event>` is the generated no-op is not built.

    Where a message is decoded, it is checked as before; an unknown type still stops.
    """
    category = "handled" + uuid.uuid4().hex[:10]
    stream = f"{category}-1"
    registered = {"email": "ann@example.org", "first_name": "Ann", "joined_on": None}
    store.append(
        [
            StreamWrite(
                stream,
                -1,
                [
                    NewMessage(str(uuid.uuid4()), "Registered", registered, None),
                    NewMessage(str(uuid.uuid4()), "Renamed", {"name": "no first_name"}, None),
                    NewMessage(
                        str(uuid.uuid4()), "Renamed", {"first_name": "B"}, {"schemaVersion": 9}
                    ),
                ],
            )
        ]
    )
    messages = list(store.read(stream))

    class Registrations(UserHandler):
        def __init__(self) -> None:
            self.events: list[Registered | Renamed] = []

        def on_registered(self, event: Registered) -> None:
            self.events.append(event)

    only = Registrations()
    for message in messages:
        only.handle(message)
    assert only.events == [Registered(email="ann@example.org", first_name="Ann")]
    consumer = Consumer(store, category, Registrations(), name="registrations")
    assert consumer.catch_up() == 3
    assert PositionStore(store, category, "registrations").get() == messages[-1].global_position

    with pytest.raises(StreamDataError, match="Renamed lacks its field 'first_name'") as caught:
        Recorder().handle(messages[1])  # a handler of Renamed decodes it, as before
    assert caught.value.position == 1
    with pytest.raises(StreamDataError, match="newer than Renamed's 1"):
        Recorder().handle(messages[2])

    class Everything(UserHandler):  # its own dispatch may use any event: all decoded
        def dispatch(self, event: Event) -> None:
            pass

    with pytest.raises(StreamDataError, match="Renamed lacks its field"):
        Everything().handle(messages[1])

    seen: list[Event] = []
    patched = Registrations()
    patched.on_renamed = seen.append  # type: ignore[method-assign,assignment]
    with pytest.raises(StreamDataError, match="Renamed lacks its field"):
        patched.handle(messages[1])  # a method set on the instance later is called

    class Later(Registrations):
        pass

    Later.on_renamed = lambda self, event: seen.append(event)  # type: ignore[method-assign]
    valid = NewMessage(str(uuid.uuid4()), "Renamed", {"first_name": "Bo"}, None)
    store.append([StreamWrite(stream, 2, [valid])])
    Later().handle(next(iter(store.read(stream, 3))))  # so is one set on the class later
    assert seen == [Renamed(first_name="Bo")]

    unknown = NewMessage(str(uuid.uuid4()), "Promoted", {}, None)
    store.append([StreamWrite(stream, 3, [unknown])])
    with pytest.raises(UnknownEventTypeError, match="unknown event type 'Promoted'"):
        Registrations().handle(next(iter(store.read(stream, 4))))


class EnrolOnRegistration(UserHandler):
    """A reaction: every registered user is enrolled as a customer."""

    def __init__(self, customers: CustomerRepository, only: str) -> None:
        self.customers = customers
        self.only = only  # the category holds other tests' users too
        self.enrolled: list[str] = []

    def on_registered(self, event: Registered) -> None:
        if event.email != self.only:
            return
        customer = Customer.enroll(number=uuid.uuid4().int % 10**9, name=event.email)
        self.customers.add(customer)
        self.enrolled.append(customer.id)


def test_events_raised_by_a_reaction_carry_their_cause(store: EventStore) -> None:
    users = UserRepository(store)
    email = f"{uuid.uuid4().hex}@example.org"
    with correlated("request-42", correlation_stream_name="web-7"):
        user = User.register(email=email)
    users.add(user)
    customers = CustomerRepository(store)
    reaction = EnrolOnRegistration(customers, email)
    stream = User.stream_name(user.id)
    (registered,) = store.read(stream)

    reaction.handle(registered)  # as a consumer does: see test_a_consumer_sets_the_cause
    (enrolled_id,) = reaction.enrolled

    (message,) = store.read(Customer.stream_name(enrolled_id))
    assert message.metadata is not None
    assert message.metadata.get("causationMessageStreamName") is None, "no consumer, no cause"


def test_a_consumer_sets_the_cause_and_carries_the_correlation(store: EventStore) -> None:
    users = UserRepository(store)
    email = f"{uuid.uuid4().hex}@example.org"
    with correlated("request-42", correlation_stream_name="web-7"):
        user = User.register(email=email)
    users.add(user)
    (registered,) = store.read(User.stream_name(user.id))
    reaction = EnrolOnRegistration(CustomerRepository(store), email)

    name = f"enrol-{uuid.uuid4().hex[:8]}"
    # Start at this test's message: the category holds other tests' users too.
    PositionStore(store, User.category(), name).put(registered.global_position - 1)
    Consumer(store, User.category(), reaction, name=name).catch_up()

    (enrolled_id,) = reaction.enrolled
    (message,) = store.read(Customer.stream_name(enrolled_id))
    expected: dict[str, Any] = {
        "causationId": registered.id,
        "causationMessageStreamName": registered.stream_name,
        "causationMessagePosition": 0,
        "causationMessageGlobalPosition": registered.global_position,
        "correlationId": "request-42",
        "correlationStreamName": "web-7",
    }
    assert message.metadata is not None
    assert {k: message.metadata.get(k) for k in expected} == expected
    assert registered.metadata is not None
    assert registered.metadata.get("correlationId") == "request-42"
    read_back = CustomerRepository(store).history(enrolled_id)[0].metadata
    assert read_back is not None
    assert (
        read_back.causation_id,
        read_back.causation_stream_name,
        read_back.causation_position,
        read_back.causation_global_position,
        read_back.correlation_id,
        read_back.correlation_stream_name,
    ) == tuple(expected.values())


def test_a_generated_handler_runs_as_a_projection_with_a_session(store: EventStore) -> None:
    category = "proj" + uuid.uuid4().hex[:10]

    class Emails(UserHandler):
        def on_registered(self, event: Registered) -> None:
            assert event.metadata is not None
            self.session.execute(
                "INSERT INTO emails (email, stream_name) VALUES (%s, %s)",
                (event.email, event.metadata.stream_name),
            )

    for n in range(3):
        registered = Registered(email=f"u{n}@example.org", joined_on=datetime.date(2026, 1, n + 1))
        store.append(
            [
                StreamWrite(
                    f"{category}-{n}",
                    -1,
                    [NewMessage(str(uuid.uuid4()), "Registered", registered.to_data(), None)],
                )
            ]
        )
    target = SQLiteProjectionTarget()
    with target.session() as session:
        session.execute("CREATE TABLE emails (email TEXT PRIMARY KEY, stream_name TEXT)")

    assert Projector(store, category, Emails(), target, name="emails").catch_up() == 3

    with target.session() as session:
        rows = session.execute("SELECT email, stream_name FROM emails ORDER BY 1").fetchall()
    assert rows == [(f"u{n}@example.org", f"{category}-{n}") for n in range(3)]
    with pytest.raises(RuntimeError, match="only while a Projector runs it"):
        _ = Emails().session
