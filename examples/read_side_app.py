"""The read side on the generated packages: a read model kept exactly once, and a reaction.

- `UsersByEmail` projects every User into the table `users_by_email` (email, user id,
  first name), storing its position in the same transaction: each event is applied
  exactly once, whatever crashes.
- `EnrolNewUsers` reacts to each registered User by enrolling a banking Customer (a
  reaction across two aggregates). The Customer's events carry their cause, the
  Registered message, and its correlation.

Run it from the repository root after `aggregen generate`:

    .venv/bin/python examples/read_side_app.py

The event store comes from `AGGREGEN_EVENT_STORE` (else in memory); the read model
goes to the PostgreSQL database `AGGREGEN_APP_DATABASE` (a URI), else to SQLite in
memory, which runs the same SQL.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path

from aggregen.runtime import (
    Consumer,
    EventStore,
    ProjectionTarget,
    Projector,
    StreamExistsError,
    connect,
    correlated,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generated"))

from banking import Customer, CustomerRepository
from identity import Registered, Renamed, User, UserHandler, UserRepository


class UsersByEmail(UserHandler):
    """A read model: users by email, in the table `users_by_email`."""

    def create_table(self, target: ProjectionTarget) -> None:
        with target.session() as session:
            session.execute(
                "CREATE TABLE IF NOT EXISTS users_by_email "
                "(email text PRIMARY KEY, user_id text NOT NULL, first_name text)"
            )

    def on_registered(self, event: Registered) -> None:
        assert event.metadata is not None
        self.session.execute(
            "INSERT INTO users_by_email (email, user_id, first_name) VALUES (%s, %s, %s) "
            "ON CONFLICT (email) DO UPDATE SET user_id = excluded.user_id, "
            "first_name = excluded.first_name",
            (event.email, _user_id(event), event.first_name),
        )

    def on_renamed(self, event: Renamed) -> None:
        self.session.execute(
            "UPDATE users_by_email SET first_name = %s WHERE user_id = %s",
            (event.first_name, _user_id(event)),
        )


class EnrolNewUsers(UserHandler):
    """A reaction: every registered User becomes a banking Customer.

    Delivery is at least once, so the Customer's number comes from the user's id and a
    second delivery finds the Customer there already (`StreamExistsError`) and stops.
    """

    def __init__(self, customers: CustomerRepository) -> None:
        self.customers = customers

    def on_registered(self, event: Registered) -> None:
        number = uuid.UUID(_user_id(event)).int % 10**12 + 1
        customer = Customer.enroll(number=number, name=event.first_name or event.email)
        with contextlib.suppress(StreamExistsError):  # enrolled by an earlier delivery
            self.customers.add(customer)


def _user_id(event: Registered | Renamed) -> str:
    """The id of the User whose stream holds `event`."""
    return UserHandler.aggregate_id(event)


def read_model_target() -> ProjectionTarget:
    """PostgreSQL at AGGREGEN_APP_DATABASE, else SQLite in memory."""
    uri = os.environ.get("AGGREGEN_APP_DATABASE")
    if uri:
        from aggregen.runtime import PostgresProjectionTarget

        return PostgresProjectionTarget(uri)
    from aggregen.runtime import SQLiteProjectionTarget

    return SQLiteProjectionTarget()


def write_side(store: EventStore) -> list[User]:
    """Three users register (one request correlates them) and one changes name."""
    users = UserRepository(store)
    registered = []
    with correlated("signup-batch-7"):
        for email, name in [("ada@example.org", "Ada"), ("alan@example.org", "Alan")]:
            user = User.register(email=email, first_name=name, id=str(uuid.uuid4()))
            users.add(user)
            registered.append(user)
    grace = User.register(email="grace@example.org", first_name="Grace", id=str(uuid.uuid4()))
    users.add(grace)
    grace.rename(first_name="Grace H.")
    users.add(grace)
    return [*registered, grace]


def main() -> None:
    """Write some users, run the reaction and the projection, and show what they made."""
    store = connect()
    users = write_side(store)

    reaction = Consumer(
        store, User.category(), EnrolNewUsers(CustomerRepository(store)), name="enrol"
    )
    print(f"reaction: {reaction.catch_up()} user events handled")
    print(f"reaction again: {reaction.catch_up()} new (its position is stored)")

    target = read_model_target()
    projection = UsersByEmail()
    projection.create_table(target)
    projector = Projector(store, User.category(), projection, target, name="users_by_email")
    print(f"projection: {projector.catch_up()} user events applied exactly once")
    with target.session() as session:
        rows = session.execute(
            "SELECT email, first_name FROM users_by_email WHERE user_id = %s",
            (users[2].id,),
        ).fetchall()
    print(f"users_by_email for {users[2].id[:8]}…: {[tuple(row) for row in rows]}")

    customers = CustomerRepository(store)
    number = uuid.UUID(users[0].id).int % 10**12 + 1
    enrolled = customers.history(str(number))[0]
    assert enrolled.metadata is not None
    print(
        f"customer {number} ({customers.get(str(number)).name}) was caused by "
        f"{enrolled.metadata.causation_stream_name} position "
        f"{enrolled.metadata.causation_position}, correlation {enrolled.metadata.correlation_id}"
    )
    target.close()
    store.close()


if __name__ == "__main__":
    main()
