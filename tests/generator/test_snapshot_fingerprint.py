"""A snapshot never gives a state that a replay would not, across schema changes.

A domain goes through three versions, each a random set of the changes `breaking`
lets through (warnings only): `maps` retargeted, an event field added with a
default and that default changed later, an enum value renamed (with its alias), a
state field's default changed, a state field added with a default. Random
histories are stored under the first two versions with random snapshot thresholds;
under the last one, `get` with snapshots must equal `get` with snapshots off, field
for field. Each version is generated into its own directory and imported afresh.
Along the way, whenever the generated fingerprint changes, `breaking` reports
SNAPSHOT_SHAPE_CHANGED, and the generated `_state_shape()` is the fingerprint
`breaking` computes.
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.generator import pipeline
from aggregen.generator.snapshot_fingerprint import snapshot_fingerprint
from aggregen.generator.validate import load_and_validate
from aggregen.review.compare import find_breaking_changes
from aggregen.review.lock import read_lock, update_lock
from aggregen.review.wire_shape import domain_shapes
from aggregen.runtime import EventStore, InMemoryEventStore, MessageDBEventStore, connect

from .support import importable


@dataclasses.dataclass(frozen=True)
class Version:
    """One schema version: which of the changes it holds."""

    retarget: bool = False  # Written.text sets `label` instead of `note`
    bonus: int | None = None  # Started gains `bonus` (this default), which sets `count`
    renamed: bool = False  # the Mood value `calm` is now `quiet` (alias kept)
    count_default: int = 0  # the default of the state field `count`
    extra: bool = False  # the state gains `extra` (default 3)
    started_version: int = 1
    written_version: int = 1

    def text(self) -> str:
        values = (
            "[quiet, busy]\n    value_aliases: {calm: quiet}" if self.renamed else "[calm, busy]"
        )
        bonus = (
            f"\n          bonus: {{type: Integer, default: {self.bonus}}}"
            "\n        maps: {bonus: count}"
            if self.bonus is not None
            else ""
        )
        extra = "\n      extra: {type: Integer, default: 3}" if self.extra else ""
        return f"""\
domain: snapdom
enums:
  Mood:
    values: {values}
aggregates:
  Note:
    fields:
      label: Text
      note: Text
      count: {{type: Integer, default: {self.count_default}}}
      mood: Mood{extra}
    events:
      Started:
        version: {self.started_version}
        fields:
          label: Text{bonus}
      Written:
        version: {self.written_version}
        fields:
          text: Text
          size: {{type: Integer, default: 1}}
          mood: Mood
        maps: {{text: {"label" if self.retarget else "note"}, size: count}}
    commands:
      start: {{event: Started, creates: true}}
      write: {{event: Written}}
"""

    def then(self, change: Version) -> Version:
        """`change` applied after this version: what was added stays, versions go up."""
        bonus = change.bonus if change.bonus is not None else self.bonus
        renamed = self.renamed or change.renamed
        return dataclasses.replace(
            change,
            bonus=bonus,
            renamed=renamed,
            extra=self.extra or change.extra,
            started_version=self.started_version + (bonus != self.bonus),
            written_version=self.written_version + (renamed != self.renamed),
        )


_generated: dict[str, Path] = {}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshot-fingerprint")


def generated(workspace: Path, version: Version) -> Path:
    """The output directory of `version`'s schema, generated once per schema text."""
    text = version.text()
    found = _generated.get(text)
    if found is None:
        root = workspace / f"v{len(_generated)}"
        (root / "schemas").mkdir(parents=True)
        (root / "schemas" / "snapdom.yaml").write_text(text, encoding="utf-8")
        pipeline.generate([root / "schemas"], root / "generated")
        found = _generated[text] = root
    return found


@dataclasses.dataclass(frozen=True)
class Segment:
    """Commands run under one version: writes (text, size, mood index), commits after some."""

    threshold: int
    writes: list[tuple[str, int, int, bool]]


def run(module: ModuleType, store: EventStore, note_id: str | None, segment: Segment) -> str:
    """Run `segment` on the note `note_id` (a new one when None); returns its id."""
    repository = module.NoteRepository(store, snapshot_threshold=segment.threshold)
    note = module.Note.start(label="first") if note_id is None else repository.get(note_id)
    moods = [m.value for m in module.Mood]
    for text, size, mood, commit in segment.writes:
        note.write(text=text, size=size, mood=module.Mood(moods[mood % len(moods)]))
        if commit:
            repository.add(note)
    repository.add(note)
    return str(note.id)


def state(module: ModuleType, store: EventStore, note_id: str, threshold: int) -> Any:
    note = module.NoteRepository(store, snapshot_threshold=threshold).get(note_id)
    return (type(note).__name__, note._version, note._snapshot_state())


ACCEPTED_RULES = frozenset({"EVENT_MAPS_CHANGED", "FIELD_DEFAULT_CHANGED"})
"""Findings a user would accept for the changes drawn here (see `check_path`)."""


def check_path(
    workspace: Path, store: EventStore, path: list[Version], segments: list[Segment]
) -> None:
    """Store `segments` under the versions of `path` but the last; compare both gets under it."""
    lock = workspace / f"lock-{uuid.uuid4()}.json"
    note_id: str | None = None
    previous: Path | None = None
    for index, version in enumerate(path):
        root = generated(workspace, version)
        documents = load_and_validate([root / "schemas"])
        if previous is not None:
            findings = find_breaking_changes(
                load_and_validate([previous / "schemas"]), documents, lock=read_lock(lock)
            )
            # A retargeted `maps` and a changed default that old events read reinterpret
            # history: breaking blocks them until they are accepted, which lets them
            # through (and snapshots must still agree with a replay then); the other
            # changes pass as they are.
            blocking = [f for f in findings if f.blocking and f.rule not in ACCEPTED_RULES]
            assert blocking == [], "breaking must let this through"
            old_shape, new_shape = (
                domain_shapes(load_and_validate([r / "schemas"]))["snapdom"].aggregates[0]
                for r in (previous, root)
            )
            changed = snapshot_fingerprint(old_shape) != snapshot_fingerprint(new_shape)
            reported = any(f.rule == "SNAPSHOT_SHAPE_CHANGED" for f in findings)
            assert changed == reported
        update_lock(documents, lock)
        with importable(root / "generated", ["snapdom"]):
            module = importlib.import_module("snapdom")
            shape = domain_shapes(documents)["snapdom"].aggregates[0]
            assert module.Note._state_shape() == snapshot_fingerprint(shape)
            if index < len(segments):
                note_id = run(module, store, note_id, segments[index])
            else:
                assert note_id is not None
                threshold = segments[-1].threshold
                assert state(module, store, note_id, threshold) == state(module, store, note_id, 0)
        previous = root


changes = st.builds(
    Version,
    retarget=st.booleans(),
    bonus=st.sampled_from([None, 4, 6]),
    renamed=st.booleans(),
    count_default=st.sampled_from([0, 9]),
    extra=st.booleans(),
)
segments = st.builds(
    Segment,
    threshold=st.integers(1, 4),
    writes=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", ""]), st.integers(0, 3), st.integers(0, 1), st.booleans()
        ),
        max_size=9,
    ),
)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=changes, second=changes, history=st.lists(segments, min_size=2, max_size=2))
def test_get_with_snapshots_equals_get_without_them_after_schema_changes(
    workspace: Path, first: Version, second: Version, history: list[Segment]
) -> None:
    base = Version()
    middle = base.then(first)
    check_path(workspace, InMemoryEventStore(), [base, middle, middle.then(second)], history)


@pytest.fixture
def messagedb(messagedb_uri: str) -> Iterator[EventStore]:
    store = connect(messagedb_uri, max_size=2)
    assert isinstance(store, MessageDBEventStore)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize(
    "change",
    [
        Version(retarget=True),
        Version(bonus=4),
        Version(renamed=True),
        Version(count_default=9),
        Version(extra=True),
    ],
)
def test_on_messagedb_a_snapshot_taken_before_a_change_gives_the_replayed_state(
    workspace: Path, messagedb: EventStore, change: Version
) -> None:
    writes = [("n" + str(i), i, i, i % 3 == 0) for i in range(11)]
    base = Version()
    check_path(
        workspace,
        messagedb,
        [base, base.then(change)],
        [Segment(threshold=4, writes=writes)],
    )


def test_the_issue_example_maps_retargeted_gives_the_replayed_state(workspace: Path) -> None:
    store = InMemoryEventStore()
    base = Version()
    with importable(generated(workspace, base) / "generated", ["snapdom"]):
        module = importlib.import_module("snapdom")
        note_id = run(
            module,
            store,
            None,
            Segment(threshold=5, writes=[(f"n{i}", 1, 0, True) for i in range(12)]),
        )
    with importable(
        generated(workspace, base.then(Version(retarget=True))) / "generated", ["snapdom"]
    ):
        module = importlib.import_module("snapdom")
        note = module.NoteRepository(store, snapshot_threshold=5).get(note_id)
        assert (note.label, note.note) == ("n11", None)
