"""Reading one aggregate's past: exists, history and get as of a version, on both stores."""

from __future__ import annotations

import uuid

import pytest
from identity import Registered, Renamed, User, UserRepository

from aggregen.runtime import AggregateNotFoundError, EventStore, Repository


def stored_user(store: EventStore, renames: int) -> tuple[UserRepository, User]:
    users = UserRepository(store, snapshot_threshold=3)
    user = User.register(email="past@example.org", first_name="n0")
    users.add(user)
    for n in range(1, renames + 1):
        user = users.get(user.id)
        user.rename(first_name=f"n{n}")
        users.add(user)
    return users, user


def test_exists_says_whether_an_aggregate_has_events(store: EventStore) -> None:
    users, user = stored_user(store, renames=0)
    assert users.exists(user.id)
    assert not users.exists(str(uuid.uuid4()))


def test_history_gives_the_typed_events_with_their_metadata(store: EventStore) -> None:
    users, user = stored_user(store, renames=2)

    history = users.history(user.id)

    assert history == [
        Registered(email="past@example.org", first_name="n0"),
        Renamed(first_name="n1"),
        Renamed(first_name="n2"),
    ]
    assert [e.metadata.position for e in history if e.metadata] == [0, 1, 2]
    assert all(e.metadata and e.metadata.stream_name == User.stream_name(user.id) for e in history)
    with pytest.raises(AggregateNotFoundError):
        users.history(str(uuid.uuid4()))


@pytest.mark.parametrize("threshold", [0, 1, 3])
def test_get_as_of_a_version_equals_a_replay_up_to_it(store: EventStore, threshold: int) -> None:
    users, user = stored_user(store, renames=8)
    plain = Repository(User, store, snapshot_threshold=0)
    with_snapshots = Repository(User, store, snapshot_threshold=threshold)

    for version in range(9):
        as_of = with_snapshots.get(user.id, version=version)
        assert as_of._version == version
        assert as_of.first_name == f"n{version}"
        assert vars(as_of) == vars(plain.get(user.id, version=version))
    assert users.get(user.id, version=8).first_name == users.get(user.id).first_name


@pytest.mark.parametrize("version", [-1, 9, True, "3"])
def test_a_version_outside_the_stream_is_refused(store: EventStore, version: object) -> None:
    users, user = stored_user(store, renames=8)
    with pytest.raises(ValueError, match="version"):
        users.get(user.id, version=version)  # type: ignore[arg-type]
