"""Required state fields the creating event always sets: typed `T`, unset until it applies.

Runs the golden `required_state` output (its typing is pinned in
test_generated_typing.py): the values are there after the creating command, after a
replay and after a snapshot; a blank aggregate lacks those attributes instead of
holding None, and the other state fields start as None.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator
from typing import Any

import pytest

from aggregen.runtime import InMemoryEventStore

from .support import GOLDEN, importable


@pytest.fixture(scope="module")
def domain() -> Iterator[types.ModuleType]:
    with importable(GOLDEN / "required_state" / "expected", ["required_state"]):
        yield importlib.import_module("required_state")


def _state(member: Any) -> tuple[object, ...]:
    return (member.email, member.handle, member.level, member.phone, member.city, member.country)


@pytest.mark.parametrize("threshold", [0, 1])
def test_the_creating_event_sets_them_on_replay_and_from_a_snapshot(
    domain: types.ModuleType, threshold: int
) -> None:
    members = domain.MemberRepository(InMemoryEventStore(), snapshot_threshold=threshold)
    member = domain.Member.join(email="a@b", nick="ann", country="NL", motto="hi")
    assert _state(member) == ("a@b", "ann", 1, None, None, "NL")
    members.add(member)
    loaded = members.get(member.id)
    assert _state(loaded) == ("a@b", "ann", 1, None, None, "NL")
    loaded.move(city="Utrecht")  # Moved.country is optional: it sets None
    members.add(loaded)
    assert _state(members.get(member.id)) == ("a@b", "ann", 1, None, "Utrecht", None)


def test_a_blank_aggregate_lacks_them_until_the_creating_event_applies(
    domain: types.ModuleType,
) -> None:
    blank = domain.Member._blank("m-1")
    for name in ("email", "handle", "level"):
        assert not hasattr(blank, name)
    assert (blank.phone, blank.city, blank.country, blank.motto) == (None, None, None, None)
    guest = domain.Guest._blank("g-1")
    assert not hasattr(guest, "token")
    assert guest.name is None
    guest.apply(domain.Arrived(token="t"))
    assert (guest.token, guest.name) == ("t", None)
