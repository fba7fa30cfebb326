"""Every store against the in-memory store: random operation sequences, the same outcomes.

A hypothesis state machine runs one random sequence of operations against the
in-memory store (the reference: MessageDB's behaviour in a process) and against one
other store, MessageDB or JetStream, sync or async (behind `SyncFacade`), and
asserts that every result and every raised error agree:

- appends of 1-3 `StreamWrite`s (atomic units over several streams and categories,
  snapshot-like `:snapshot` categories, a category's own stream, names with odd
  characters) with expected versions right, stale, ahead, -1 and None; message ids
  fresh, reused within the unit, reused from a stored message of the same stream or
  of another one, and retries of stored appends (which succeed and store nothing);
- `read` from every position (below 0, each message, past the end; from 256 on in a
  stream of 300 messages, JetStream's seek path), `read_last`, `stream_version`,
  `categories()` (where the store has it);
- `read_category` from each message's global position and past the end, with batch
  sizes, consumer groups (sizes 1-5 and 8) and a correlation filter, compared as
  (stream, position, id, type, data, metadata); global positions differ between
  stores, so they are compared by order only (each store's own positions are used
  for the same message);
- on the async stores, two appends at once (the async MessageDB store coalesces them
  into one transaction): each must get the outcome it gets alone.

Left out on purpose, as documented limits (docs/jetstream.md): appends of more than
500 messages (JetStream refuses them), ids written without the store's records.
Message ids are UUID strings in several forms (upper case, braces, no hyphens: one
id, as in MessageDB's uuid column), now and then not a UUID; data holds integers
within 53 bits, a few exact floats and strings (with NUL, which every store refuses).

Every example uses categories of its own (a random token), so the shared databases
and earlier examples do not interfere. AGGREGEN_RELIABILITY_SCALE multiplies the
number of examples.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from aggregen.runtime import (
    AggregenError,
    ConsumerGroup,
    DuplicateMessageError,
    EventStore,
    ExpectedVersionError,
    InMemoryEventStore,
    NewMessage,
    RecordedMessage,
    StreamDataError,
    StreamWrite,
)
from aggregen.runtime.message import uuid4_string
from tests.async_support import EventLoopThread, SyncFacade

SCALE = int(os.environ.get("AGGREGEN_RELIABILITY_SCALE", "1"))
EXAMPLES = 30
STEPS = 25
BIG = 300
"""Messages of the big stream: JetStream seeks a position from 256 on."""

Outcome = tuple[Any, ...]


@pytest.fixture(
    params=[
        "messagedb",
        "async-messagedb",
        pytest.param("jetstream", marks=pytest.mark.jetstream),
        pytest.param("async-jetstream", marks=pytest.mark.jetstream),
    ]
)
def other_store(request: pytest.FixtureRequest) -> EventStore:
    """Each store but the reference: MessageDB and JetStream, sync and async."""
    if request.param in ("messagedb", "jetstream"):
        found: EventStore = request.getfixturevalue(f"{request.param}_store")
        return found
    loop: EventLoopThread = request.getfixturevalue("event_loop_thread")
    return SyncFacade(request.getfixturevalue(f"{request.param.replace('-', '_')}_store"), loop)


def outcome(call: Callable[[], Any]) -> Outcome:
    """What a call gave: ("ok", value) or ("error", its type and what it names)."""
    try:
        return ("ok", call())
    except ExpectedVersionError as error:
        return (
            "error",
            type(error),
            error.stream_name,
            error.expected_version,
            error.actual_version,
        )
    except DuplicateMessageError as error:
        return ("error", type(error), error.message_id)
    except StreamDataError as error:
        return ("error", type(error), error.stream_name, error.position)
    except (AggregenError, ValueError, TypeError) as error:
        return ("error", type(error), Shown(str(error)))


class Shown(str):
    """An error's text, shown when an assertion fails but equal to any other."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shown)

    def __hash__(self) -> int:
        return 0


def seen(message: RecordedMessage) -> tuple[Any, ...]:
    """A message as both stores must give it: all but its global position and time."""
    return (
        message.stream_name,
        message.position,
        message.id,
        message.type,
        message.data,
        message.metadata,
    )


def in_order(messages: list[RecordedMessage]) -> list[tuple[Any, ...]]:
    """`seen` of each message, checking that global positions increase."""
    globals_ = [m.global_position for m in messages]
    assert globals_ == sorted(set(globals_)), globals_
    return [seen(m) for m in messages]


VALUES = st.one_of(
    st.integers(-(2**53), 2**53),
    st.sampled_from(["", "é ✓", '"quoted"', "a\\b", "\x7f", "line\nbreak", "nul\x00"]),
    st.sampled_from([0.5, -0.0, 1.25e-7]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
)
DATA = st.dictionaries(st.sampled_from(["n", "s", "é", ""]), VALUES, max_size=2)
SIZES = [1, 2, 3, 4, 5, 8]


class StoreModel(RuleBasedStateMachine):
    """One random sequence of operations, run on the reference and on `other`."""

    other: EventStore

    def __init__(self) -> None:
        super().__init__()
        self.reference = InMemoryEventStore()
        self.token = uuid.uuid4().hex[:10]
        base = f"model{self.token}"
        self.category_names = [f"{base}a", f"{base}b", f"{base}b:snapshot", f"{base}ç.d"]
        a, b, snapshot, odd = self.category_names
        self.streams = [
            f"{a}-1",
            f"{a}-2+x",
            f"{a}-2+y",
            f"{a}-3-4",
            a,
            f"{b}-a.b",
            f"{b}-*>%",
            f"{snapshot}-1",
            f"{odd}-x y",
            f"{odd}-é✓",
        ]
        self.big = f"{a}-big"
        self.appends: list[list[StreamWrite]] = []
        """The appends that were stored, for retries."""
        self.stored: list[tuple[str, str]] = []
        """(id, stream) of every stored message."""
        self.unordered: set[str] = set()
        """Ids of the messages of appends made at once: their global order is not given."""

    # appends

    def draw_unit(self, data: st.DataObject) -> list[StreamWrite]:
        writes: list[StreamWrite] = []
        unit_ids: list[str] = []
        planned: dict[str, int] = {}
        for _ in range(data.draw(st.integers(1, 3), label="writes")):
            stream = data.draw(st.sampled_from(self.streams), label="stream")
            version = planned.get(stream, self.reference.stream_version(stream))
            kind = data.draw(st.sampled_from(["right", "any", "new", "stale", "ahead"]))
            expected: int | None = {
                "right": version,
                "any": None,
                "new": -1,
                "stale": version - 1 if version > 0 else 0,
                "ahead": version + 1,
            }[kind]
            messages = []
            for _ in range(data.draw(st.sampled_from([1, 2, 3, 0]), label="messages")):
                message_id = self.draw_id(data, stream, unit_ids)
                unit_ids.append(message_id)
                metadata = data.draw(self.metadata(), label="metadata")
                messages.append(
                    NewMessage(
                        message_id,
                        data.draw(st.sampled_from(["A", "B"])),
                        data.draw(DATA),
                        metadata,
                    )
                )
            planned[stream] = version + len(messages)
            writes.append(StreamWrite(stream, expected, messages))
        return writes

    def draw_id(self, data: st.DataObject, stream: str, unit_ids: list[str]) -> str:
        kinds = ["fresh"]
        if unit_ids:
            kinds.append("unit")
        if any(name == stream for _, name in self.stored):
            kinds.append("same stream")
        if any(name != stream for _, name in self.stored):
            kinds.append("other stream")
        kind = data.draw(st.sampled_from(kinds), label="id")
        if kind == "fresh":
            found = uuid4_string()
        elif kind == "unit":
            found = data.draw(st.sampled_from(unit_ids))
        else:
            same = kind == "same stream"
            found = data.draw(st.sampled_from([i for i, s in self.stored if (s == stream) == same]))
        # MessageDB's ids are a uuid column: the same id in any form is the same id
        form = data.draw(st.sampled_from(["as is", "upper", "braced", "hex", "no uuid"]))
        if form == "upper":
            return found.upper()
        if form == "braced":
            return "{" + found + "}"
        if form == "hex":
            return found.replace("-", "")
        if form == "no uuid" and data.draw(st.integers(0, 3), label="no uuid") == 3:
            return found[:-1]  # refused by every store: ValueError
        return found

    def metadata(self) -> st.SearchStrategy[dict[str, Any] | None]:
        correlations = [f"{c}-{n}" for c in self.category_names for n in ("1", "x+y")]
        return st.one_of(
            st.none(),
            st.just({"schemaVersion": 1}),
            st.builds(
                lambda name: {"correlationStreamName": name},
                st.sampled_from([*correlations, "other-1", self.category_names[0]]),
            ),
        )

    def append_both(self, writes: list[StreamWrite]) -> None:
        expected = outcome(lambda: self.reference.append(writes))
        assert outcome(lambda: self.other.append(writes)) == expected, writes
        if expected[0] == "ok":
            self.note_stored(writes)

    def note_stored(self, writes: list[StreamWrite]) -> None:
        self.appends.append(writes)
        for write in writes:
            for message in write.messages:
                pair = (message.id, write.stream_name)
                if pair not in self.stored:
                    self.stored.append(pair)

    @rule(data=st.data())
    def append(self, data: st.DataObject) -> None:
        self.append_both(self.draw_unit(data))

    @precondition(lambda self: bool(self.appends))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """The retry of a stored append: it succeeds and stores nothing twice."""
        self.append_both(data.draw(st.sampled_from(self.appends)))

    @precondition(lambda self: isinstance(self.other, SyncFacade))
    @rule(data=st.data())
    def append_at_once(self, data: st.DataObject) -> None:
        """Two appends at the same time, to categories of their own with ids of their own:
        each gets the outcome it gets alone (their global order is left open)."""
        first = self.draw_unit(data)
        taken = {w.category for w in first}
        first_ids = {m.id for w in first for m in w.messages}
        second = [
            w
            for w in self.draw_unit(data)
            if w.category not in taken and not {m.id for m in w.messages} & first_ids
        ]
        if not second:
            return
        expected = [outcome(functools.partial(self.reference.append, w)) for w in (first, second)]
        assert isinstance(self.other, SyncFacade)
        inner = self.other.inner

        async def both() -> list[Outcome]:
            tasks = [asyncio.ensure_future(inner.append(w)) for w in (first, second)]
            await asyncio.wait(tasks)
            return [outcome(task.result) for task in tasks]

        assert self.other.loop.run(both()) == expected, (first, second)
        for writes, (kind, *_) in zip((first, second), expected, strict=True):
            if kind == "ok":
                self.note_stored(writes)
                self.unordered.update(m.id for w in writes for m in w.messages)

    @precondition(lambda self: self.reference.stream_version(self.big) < 0)
    @rule(data=st.data())
    def fill_big_stream(self, data: st.DataObject) -> None:
        """Sparingly: a stream of `BIG` messages, for reads from position 256 on."""
        if data.draw(st.integers(0, 5), label="fill big") != 5:
            return
        messages = [NewMessage(uuid4_string(), "Big", {"n": n}, None) for n in range(BIG)]
        self.append_both([StreamWrite(self.big, -1, messages)])

    # stream reads

    def same(self, call: Callable[[EventStore], Any]) -> None:
        assert outcome(lambda: call(self.other)) == outcome(lambda: call(self.reference))

    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        stream = data.draw(st.sampled_from([*self.streams, self.big]), label="stream")
        end = self.reference.stream_version(stream) + 1
        positions = st.integers(-1, end + 2)
        if end > 256:
            positions = st.one_of(positions, st.integers(250, end + 2))
        position = data.draw(positions, label="position")
        self.same(lambda store: in_order(list(store.read(stream, position))))

    @rule(data=st.data())
    def read_last(self, data: st.DataObject) -> None:
        stream = data.draw(st.sampled_from([*self.streams, self.big]), label="stream")
        self.same(lambda store: None if (m := store.read_last(stream)) is None else seen(m))
        self.same(lambda store: store.stream_version(stream))

    def teardown(self) -> None:
        """`categories()` once at the end: on MessageDB it lists the shared database's
        thousands of categories (about 40 ms here)."""
        self.categories()

    def categories(self) -> None:
        """`categories()`: every store has it, the async ones awaited."""
        found: list[str] | None = None
        if isinstance(self.other, SyncFacade):
            listing = getattr(self.other.inner, "categories", None)
            if listing is not None:
                found = self.other.loop.run(listing())
        elif hasattr(self.other, "categories"):
            found = self.other.categories()
        if found is not None:
            mine = [c for c in found if c.startswith(f"model{self.token}")]
            assert mine == self.reference.categories()

    # category reads

    def whole(self, store: EventStore, category: str) -> list[RecordedMessage]:
        return store.read_category(category, 1, batch_size=10_000)

    @rule(data=st.data())
    def read_category(self, data: st.DataObject) -> None:
        category = data.draw(st.sampled_from(self.category_names), label="category")
        reference_all = self.whole(self.reference, category)
        other_all = self.whole(self.other, category)
        assert in_order(other_all) == in_order(reference_all)
        index = data.draw(st.integers(-1, len(reference_all)), label="from message")

        def start(messages: list[RecordedMessage]) -> int:
            if index < 0:
                return 0
            if index < len(messages):
                return messages[index].global_position
            return messages[-1].global_position + 1 if messages else 1

        batch_size = data.draw(st.sampled_from([1, 2, 3, 5, 1000]), label="batch size")
        group = None
        if data.draw(st.booleans(), label="group"):
            size = data.draw(st.sampled_from(SIZES), label="size")
            group = ConsumerGroup(data.draw(st.integers(0, size - 1), label="member"), size)
        correlation = data.draw(
            st.one_of(st.none(), st.sampled_from(self.category_names)), label="correlation"
        )

        def batch(store: EventStore, messages: list[RecordedMessage]) -> list[tuple[Any, ...]]:
            return in_order(
                store.read_category(
                    category,
                    start(messages),
                    batch_size=batch_size,
                    consumer_group=group,
                    correlation=correlation,
                )
            )

        assert outcome(lambda: batch(self.other, other_all)) == outcome(
            lambda: batch(self.reference, reference_all)
        )

    @rule()
    def global_order(self) -> None:
        """All messages of the example, by global position: the same order in both."""

        def history(store: EventStore) -> list[str]:
            messages = [m for c in self.category_names for m in self.whole(store, c)]
            ordered = sorted(messages, key=lambda m: m.global_position)
            return [m.id for m in ordered if m.id not in self.unordered]

        assert history(self.other) == history(self.reference)


def run_model(store: EventStore) -> None:
    model = type("Model", (StoreModel,), {"other": store})
    run_state_machine_as_test(
        model,
        settings=settings(
            max_examples=EXAMPLES * SCALE,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_every_store_agrees_with_the_in_memory_store(other_store: EventStore) -> None:
    run_model(other_store)
