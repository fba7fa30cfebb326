"""Every event a command accepts reads back equal, field for field and type for type.

A property test on both stores: Hypothesis draws values for every field type of the
golden `field_types` and `values_and_enums` domains (every schema type, optional
fields, lists, lists of lists, value objects in lists, named enums), from the whole
range of Python values of each type, bad ones included (NaN, infinities, naive
datetimes, NUL, lone surrogates, integers past 64 bits, text that breaks the rules).
A command either raises `ValidationError` naming the failing parameters, and stores
nothing, or its events are stored and read back equal, with the same types all the
way down, and the aggregate rebuilt from the store equals the one that ran the command.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aggregen.runtime import EventStore, InMemoryEventStore, ValidationError, connect

from .generator.support import GOLDEN, importable

EXAMPLES = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
"""Any text, the NUL character and lone surrogates included."""

OFFSETS: st.SearchStrategy[datetime.tzinfo] = st.timedeltas(
    min_value=-datetime.timedelta(hours=23, minutes=59, seconds=59),
    max_value=datetime.timedelta(hours=23, minutes=59, seconds=59),
).map(datetime.timezone)
AWARE = st.datetimes(
    min_value=datetime.datetime(2, 1, 1),
    max_value=datetime.datetime(9998, 12, 31),
    timezones=st.just(datetime.UTC) | OFFSETS,
)
DATETIMES = st.datetimes() | AWARE
FLOATS = st.floats() | st.integers(min_value=-(2**60), max_value=2**60)


@pytest.fixture(scope="module", params=["memory", "messagedb"])
def store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """Each store once; MessageDB through a private one-connection pool, made before
    Hypothesis draws: a pool's background thread making a connection uses `random`,
    which Hypothesis reports as a flaky strategy."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    uri: str = request.getfixturevalue("messagedb_uri")
    messagedb = connect(uri, min_size=1, max_size=1)
    try:
        list(messagedb.read("warm-up"))  # waits for the pool's one connection
        yield messagedb
    finally:
        close = getattr(messagedb, "close", None)
        if close is not None:
            close()


@pytest.fixture(scope="module")
def domains() -> Iterator[types.SimpleNamespace]:
    cases = {"field_types": "field_types", "values_and_enums": "values_and_enums"}
    with (
        importable(GOLDEN / "field_types" / "expected", list(cases)),
        importable(GOLDEN / "values_and_enums" / "expected", list(cases)),
    ):
        yield types.SimpleNamespace(
            samples=importlib.import_module("field_types"),
            canvases=importlib.import_module("values_and_enums"),
        )


def assert_same(written: object, read: object, where: str = "event") -> None:
    """`read` equals `written` with the same type at every depth."""
    assert type(read) is type(written), f"{where}: {type(read)} is not {type(written)}"
    if isinstance(written, tuple):
        assert isinstance(read, tuple)
        assert len(read) == len(written), where
        for index, (a, b) in enumerate(zip(written, read, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif dataclasses.is_dataclass(written):
        for field in dataclasses.fields(written):
            if field.name != "metadata":
                name = f"{where}.{field.name}"
                assert_same(getattr(written, field.name), getattr(read, field.name), name)
    else:
        assert read == written, where
        if isinstance(written, datetime.datetime):
            assert isinstance(read, datetime.datetime)
            assert read.utcoffset() == written.utcoffset(), where


def run(
    store: EventStore,
    aggregate_class: Any,
    command: Callable[[], Any],
    parameters: set[str],
) -> None:
    """Run `command`; check its refusal names parameters, or its events read back the same."""
    refusal = _refusal(command)
    if isinstance(refusal, ValidationError):
        named = {name.split("[")[0].split(".")[0] for name in refusal.messages}
        assert refusal.messages
        assert named <= parameters, refusal.messages
        event("refused")
        return
    aggregate = refusal
    event("stored")
    written = list(aggregate.pending_events)
    repository = _repository(aggregate_class, store)
    repository.add(aggregate)
    stream = aggregate_class.stream_name(aggregate.id)
    read = [aggregate_class.__events__[m.type].from_data(m.data) for m in store.read(stream)]
    assert len(read) == len(written)
    for before, after in zip(written, read, strict=True):
        assert_same(before, after)
    rebuilt = repository.get(aggregate.id)
    assert rebuilt._snapshot_state() == aggregate._snapshot_state()


def _refusal(command: Callable[[], Any]) -> Any:
    """What `command` returns, or the `ValidationError` it raised."""
    try:
        return command()
    except ValidationError as refused:
        return refused


def _repository(aggregate_class: Any, store: EventStore) -> Any:
    module = importlib.import_module(aggregate_class.__module__.rsplit("_", 1)[0])
    return getattr(module, aggregate_class.__name__ + "Repository")(store)


STORABLE_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=10)
SAMPLE_FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    # name: (values that fit the field's rules, any value of the field's type)
    "code": (
        st.from_regex(r"[A-Z]{2,5}[0-9]{0,3}", fullmatch=True),
        st.from_regex(r"[A-Z]{1,5}[0-9]{0,4}", fullmatch=True) | ANY_TEXT,
    ),
    "updated_at": (AWARE, DATETIMES),
    "owner": (st.uuids().map(str), ANY_TEXT),
    "body": (st.none() | STORABLE_TEXT, ANY_TEXT),
    "count": (st.integers(0, 100), st.integers()),
    "ratio": (st.none() | st.floats(-1.5, 1.5) | st.integers(-1, 1), FLOATS),
    "price": (st.decimals(0, "9999.99", allow_nan=False, allow_infinity=False), st.decimals()),
    "active": (st.booleans(), st.booleans()),
    "due_on": (st.dates(), st.dates()),
    "level": (st.sampled_from(["low", "mid", "high"]), ANY_TEXT),
    "labels": (st.lists(STORABLE_TEXT, max_size=4), st.lists(ANY_TEXT, max_size=4)),
}
REQUIRED = ("code", "updated_at", "owner")


@st.composite
def sample_values(draw: st.DrawFn) -> dict[str, Any]:
    """Parameters of `Sample.record`: each fitting its rules, but for up to two any value."""
    spoiled = draw(st.sets(st.sampled_from(sorted(SAMPLE_FIELDS)), max_size=2))
    values = {}
    for name, (fitting, anything) in SAMPLE_FIELDS.items():
        if name in REQUIRED or draw(st.booleans()):
            values[name] = draw(anything if name in spoiled else fitting)
    return values


@EXAMPLES
@given(values=sample_values())
def test_every_scalar_type_round_trips_or_is_refused(
    values: dict[str, Any], store: EventStore, domains: types.SimpleNamespace
) -> None:
    sample = domains.samples.Sample
    run(store, sample, lambda: sample.record(**values), set(values))


@st.composite
def points(draw: st.DrawFn, canvases: Any) -> Any:
    x, y = draw(FLOATS), draw(FLOATS)
    try:
        return canvases.Point(x=x, y=y)
    except ValidationError:
        return canvases.Point(x=0.0, y=0.0)


@EXAMPLES
@given(data=st.data())
def test_value_objects_enums_and_nested_lists_round_trip_or_are_refused(
    data: st.DataObject, store: EventStore, domains: types.SimpleNamespace
) -> None:
    canvases = domains.canvases
    point = points(canvases)
    shape = canvases.Shape(
        points=data.draw(st.lists(point, max_size=3)),
        colour=data.draw(st.sampled_from(list(canvases.Colour))),
        origin=data.draw(point),
    )
    colours = data.draw(st.lists(st.sampled_from(list(canvases.Colour)), max_size=3))
    grid = data.draw(st.lists(st.lists(st.integers(), max_size=3), max_size=3))
    background = data.draw(st.sampled_from(list(canvases.Colour)))

    def draw_and_paint() -> Any:
        canvas = canvases.Canvas.draw(shape=shape, colours=colours)
        canvas.paint(background=background, grid=grid)
        return canvas

    run(store, canvases.Canvas, draw_and_paint, {"shape", "colours", "grid", "background"})


@EXAMPLES
@given(x=FLOATS, y=FLOATS)
def test_a_value_object_refuses_what_its_event_could_not_store(
    x: float, y: float, domains: types.SimpleNamespace
) -> None:
    Point = domains.canvases.Point
    point = _refusal(lambda: Point(x=x, y=y))
    if isinstance(point, ValidationError):
        assert set(point.messages) <= {"x", "y"}
    else:
        assert_same(point, Point.from_data(point.to_data()))


def test_field_setters_set_slots_past_frozen_and_refuse_other_names() -> None:
    from identity import Renamed

    from aggregen.runtime.support import Metadata, field_setters

    set_metadata, set_first_name = field_setters(Renamed, "first_name")
    event = object.__new__(Renamed)
    metadata = Metadata("00000000-0000-4000-8000-000000000000")
    set_metadata(event, metadata)
    set_first_name(event, "Ann")
    assert event == Renamed(first_name="Ann")
    assert event.metadata is metadata
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.first_name = "Bo"  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"Renamed\.nickname is not a slot"):
        field_setters(Renamed, "nickname")
