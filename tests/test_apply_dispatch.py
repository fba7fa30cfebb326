"""Replays call a generated aggregate's `apply_<event>` methods directly, as `apply` would.

Generated aggregates name those methods in `__apply_methods__`; a hand-written
override of `apply_<event>` is still the one called, and a hand-written `apply`
sees every event.
"""

from __future__ import annotations

from identity import Registered, Renamed, User, UserRepository
from identity.user_base import UserBase

from aggregen.runtime import Event, InMemoryEventStore, Repository


class ShoutingUser(User):
    """Overrides one apply method: replays must call it, not the generated one."""

    def apply_renamed(self, event: Renamed) -> None:
        self.first_name = event.first_name.upper()


class CountingUser(User):
    """Overrides `apply`: replays must go through it for every event."""

    count = 0

    def apply(self, event: Event) -> None:
        CountingUser.count += 1
        super().apply(event)


def stored_user(store: InMemoryEventStore) -> str:
    user = User.register(email="a@example.org", first_name="Ann")
    user.rename(first_name="Bea")
    UserRepository(store).add(user)
    return user.id


def test_the_generated_apply_methods_are_named_per_event_class() -> None:
    assert UserBase.__apply_methods__ == {
        Registered: "apply_registered",
        Renamed: "apply_renamed",
    }
    assert User._apply_function(Renamed) is UserBase.apply_renamed
    assert ShoutingUser._apply_function(Renamed) is ShoutingUser.apply_renamed
    assert CountingUser._apply_function(Renamed) is CountingUser.apply


def test_a_replay_calls_an_overridden_apply_method() -> None:
    store = InMemoryEventStore()
    user_id = stored_user(store)

    assert Repository(ShoutingUser, store).get(user_id).first_name == "BEA"


def test_a_replay_goes_through_an_overridden_apply() -> None:
    store = InMemoryEventStore()
    user_id = stored_user(store)

    CountingUser.count = 0
    user = Repository(CountingUser, store).get(user_id)
    assert (CountingUser.count, user.first_name, user._version) == (2, "Bea", 1)
