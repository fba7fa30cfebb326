"""A small app on the generated `identity` package: register, rename, reload, conflict.

Run it from the repository root after `aggregen generate`:

    .venv/bin/python examples/identity_app.py

The event store comes from `aggregen.runtime.connect()`: `AGGREGEN_EVENT_STORE`
(for example postgresql://postgres@127.0.0.1:5432/message_store), else in memory.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from aggregen.runtime import ExpectedVersionError, ValidationError, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generated"))

from identity import User, UserRepository


def main() -> None:
    """Register a user, rename them, reload them, and lose a race on purpose."""
    store = connect()
    users = UserRepository(store)

    user = User.register(email="ada@example.org", first_name="Ada", joined_on=datetime.date.today())
    user.rename(first_name="Augusta")
    users.add(user)
    print(f"registered {user.email} as {user.first_name} (version {user._version})")

    loaded = users.get(user.id)
    print(f"reloaded {loaded.id}: {loaded.first_name}, joined {loaded.joined_on}")

    try:
        User.register(email="", first_name="x" * 60)
    except ValidationError as error:
        print(f"refused: {error}")

    first, second = users.get(user.id), users.get(user.id)
    first.rename(first_name="Ada")
    users.add(first)
    second.rename(first_name="Countess")
    try:
        users.add(second)
    except ExpectedVersionError as error:
        print(f"conflict caught: {error}")
    print(f"final name: {users.get(user.id).first_name}")


if __name__ == "__main__":
    main()
