"""Two paths from stored messages to events must agree: the replay loop and decode_event.

`Repository.get` replays through an inlined loop; handlers and `Repository.history`
decode through `decode_event`. For random histories, with every way a schema version
and causation can be stored, both give the same events with the same metadata, on
both stores.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from identity import Registered, Renamed, User, UserRepository

from aggregen.runtime import Event, EventStore, NewMessage, Repository, StreamWrite


class RecordingUser(User):
    """A User that keeps every event the replay applies to it."""

    applied: list[Event]

    def _init_state(self) -> None:
        super()._init_state()
        self.applied = []

    def apply(self, event: Event) -> None:
        self.applied.append(event)
        super().apply(event)


names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
schema_versions = st.sampled_from([{}, {"schemaVersion": 1}, {"schemaVersion": "1"}, None])
causes = st.fixed_dictionaries(
    {},
    optional={
        "correlationId": st.uuids().map(str),
        "causationId": st.uuids().map(str),
        "causationMessageStreamName": st.just("order-7"),
        "causationMessagePosition": st.integers(0, 10**6),
        "causationMessageGlobalPosition": st.integers(1, 10**9),
        "correlationStreamName": st.just("checkout-1"),
    },
)


@st.composite
def histories(draw: st.DrawFn) -> list[NewMessage]:
    """A Registered event, then renames, each with metadata stored in one of the ways."""
    events: list[Event] = [Registered(email="a@example.org", first_name=draw(names)[:50] or None)]
    events += [Renamed(first_name=name[:50] or "x") for name in draw(st.lists(names, max_size=8))]
    messages = []
    for event in events:
        version = draw(schema_versions)
        metadata: dict[str, Any] | None = None if version is None else {**version, **draw(causes)}
        messages.append(NewMessage(str(uuid.uuid4()), event.type_name(), event.to_data(), metadata))
    return messages


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_replay_and_history_decode_the_same_events(
    store: EventStore, history: list[NewMessage]
) -> None:
    user_id = str(uuid.uuid4())
    store.append([StreamWrite(User.stream_name(user_id), -1, history)])

    replayed = Repository(RecordingUser, store, snapshot_threshold=0).get(user_id).applied
    decoded = UserRepository(store).history(user_id)

    assert replayed == decoded
    assert [e.metadata for e in replayed] == [e.metadata for e in decoded]
    assert [type(e) for e in replayed] == [type(e) for e in decoded]
