"""Generated async handlers: the same events as the sync handlers, dispatch awaited.

`Async<Aggregate>Handler` shares its decoding with `<Aggregate>Handler`
(`HandlerBase`), so both are run over the same stored messages, on both stores, and
must see the same typed events. As an `AsyncProjection` it works with a real
psycopg `AsyncConnection` as its session.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from banking import AsyncBankAccountHandler, StatusChanged
from identity import (
    AsyncUserHandler,
    AsyncUserRepository,
    Registered,
    Renamed,
    User,
    UserHandler,
    UserRepository,
)

from aggregen.runtime import (
    AsyncConsumer,
    AsyncEventHandler,
    AsyncPositionStore,
    AsyncPostgresProjectionTarget,
    AsyncProjector,
    Event,
    EventStore,
    NewMessage,
    RecordedMessage,
    StreamDataError,
    StreamWrite,
    UnknownEventTypeError,
    connect_async,
)
from aggregen.runtime.projection_async import AsyncProjection, AsyncSession
from tests.projection_support import app_database_uri


class Recorder(UserHandler):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_registered(self, event: Registered) -> None:
        self.events.append(event)

    def on_renamed(self, event: Renamed) -> None:
        self.events.append(event)


class AsyncRecorder(AsyncUserHandler):
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def on_registered(self, event: Registered) -> None:
        await asyncio.sleep(0)  # an on_<event> method may await
        self.events.append(event)

    async def on_renamed(self, event: Renamed) -> None:
        self.events.append(event)


def handle_all(handler: AsyncEventHandler, messages: list[RecordedMessage]) -> None:
    async def run() -> None:
        for message in messages:
            await handler.handle(message)

    asyncio.run(run())


def stored_user(store: EventStore, *extra: NewMessage) -> list[RecordedMessage]:
    """The messages of a new user's stream: registered, renamed, then `extra`."""
    user = User.register(email="ann@example.org", first_name="Ann")
    user.rename(first_name="Anna")
    UserRepository(store).add(user)
    stream = User.stream_name(user.id)
    if extra:
        store.append([StreamWrite(stream, 1, list(extra))])
    return list(store.read(stream))


def test_the_async_handler_sees_the_events_the_sync_one_sees(store: EventStore) -> None:
    messages = stored_user(store)
    sync, async_ = Recorder(), AsyncRecorder()
    for message in messages:
        sync.handle(message)
    handle_all(async_, messages)

    assert (
        async_.events
        == sync.events
        == [
            Registered(email="ann@example.org", first_name="Ann"),
            Renamed(first_name="Anna"),
        ]
    )
    assert [e.metadata for e in async_.events] == [e.metadata for e in sync.events]
    assert all(e.metadata is not None for e in async_.events)
    assert async_.aggregate_id(async_.events[0]) == messages[0].stream_name.split("-", 1)[1]


def test_unknown_types_and_newer_versions_are_refused_as_the_sync_handler_does(
    store: EventStore,
) -> None:
    promoted = NewMessage(str(uuid.uuid4()), "Promoted", {"level": 2}, None)
    messages = stored_user(store, promoted)
    with pytest.raises(UnknownEventTypeError, match="unknown event type 'Promoted'") as caught:
        handle_all(AsyncRecorder(), messages)
    assert (caught.value.stream_name, caught.value.position) == (messages[0].stream_name, 2)

    class Tolerant(AsyncRecorder):
        skip_unknown_types = True

    tolerant = Tolerant()
    handle_all(tolerant, messages)
    assert [type(e) for e in tolerant.events] == [Registered, Renamed]

    stream = f"bankAccount-{uuid.uuid4()}"
    old = NewMessage(str(uuid.uuid4()), "StatusChanged", {"new_status": "frozen"}, {})
    newer = NewMessage(
        str(uuid.uuid4()), "StatusChanged", {"new_status": "open"}, {"schemaVersion": 3}
    )
    store.append([StreamWrite(stream, -1, [old, newer])])
    seen: list[StatusChanged] = []

    class Statuses(AsyncBankAccountHandler):
        async def on_status_changed(self, event: StatusChanged) -> None:
            seen.append(event)

    first, second = store.read(stream)
    handle_all(Statuses(), [first])
    assert seen == [StatusChanged(new_status="frozen", reason=None)], "upcast from version 1"
    with pytest.raises(StreamDataError, match="newer than StatusChanged's 2"):
        handle_all(Statuses(), [second])


def test_a_type_the_async_handler_does_not_handle_is_not_decoded(store: EventStore) -> None:
    broken = NewMessage(str(uuid.uuid4()), "Renamed", {"name": "no first_name"}, None)
    messages = stored_user(store, broken)

    class Registrations(AsyncUserHandler):
        def __init__(self) -> None:
            self.events: list[Event] = []

        async def on_registered(self, event: Registered) -> None:
            self.events.append(event)

    only = Registrations()
    handle_all(only, messages)
    assert [type(e) for e in only.events] == [Registered]
    with pytest.raises(StreamDataError, match="Renamed lacks its field 'first_name'"):
        handle_all(AsyncRecorder(), messages)


def test_an_event_the_handler_does_not_dispatch_is_an_error() -> None:
    with pytest.raises(NotImplementedError, match="AsyncEventHandler does not dispatch Renamed"):
        asyncio.run(AsyncEventHandler().dispatch(Renamed(first_name="x")))


def test_the_async_handler_is_an_async_projection_with_a_real_session(
    store: EventStore, messagedb_uri: str
) -> None:
    messages = stored_user(store)

    class Names(AsyncUserHandler):
        async def on_registered(self, event: Registered) -> None:
            await self.session.execute(
                "INSERT INTO names (id, name) VALUES (%s, %s)",
                (self.aggregate_id(event), event.first_name),
            )

        async def on_renamed(self, event: Renamed) -> None:
            await self.session.execute(
                "UPDATE names SET name = %s WHERE id = %s",
                (event.first_name, self.aggregate_id(event)),
            )

    names = Names()
    projection: AsyncProjection = names  # the protocol async projectors call

    async def project() -> list[tuple[str, str]]:
        async with await psycopg.AsyncConnection.connect(messagedb_uri) as connection:
            session: AsyncSession = connection
            await session.execute("CREATE TEMP TABLE names (id text PRIMARY KEY, name text)")
            for message in messages:
                await projection.handle(message, session)
                with pytest.raises(RuntimeError, match="only while a Projector runs it"):
                    _ = names.session  # the session is the message's, not the handler's
            cursor = await session.execute("SELECT id, name FROM names")
            rows: list[tuple[str, str]] = await cursor.fetchall()
            await connection.rollback()
            return rows

    user_id = messages[0].stream_name.split("-", 1)[1]
    assert asyncio.run(project()) == [(user_id, "Anna")]


def test_the_async_example_of_the_generated_code_page_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = (Path(__file__).parents[1] / "docs" / "generated-code.md").read_text()
    section = page.split("## Async classes", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.delenv("AGGREGEN_EVENT_STORE", raising=False)
    exec(compile(example, "generated-code.md async example", "exec"), {"__name__": "example"})
    assert capsys.readouterr().out == "welcome ann@example.org\n"


class Welcomes(AsyncUserHandler):
    """A reaction: the events of `users` in the order handled (others share the category)."""

    def __init__(self, users: set[str]) -> None:
        self.users = users
        self.seen: list[tuple[str, str]] = []

    async def on_registered(self, event: Registered) -> None:
        await self.note(event)

    async def on_renamed(self, event: Renamed) -> None:
        await self.note(event)

    async def note(self, event: Event) -> None:
        await asyncio.sleep(0)
        if self.aggregate_id(event) in self.users:
            self.seen.append((self.aggregate_id(event), type(event).__name__))


class NamesTable(AsyncUserHandler):
    """A read model: each user's name and version, in a table of its own."""

    def __init__(self, table: str) -> None:
        self.table = table

    async def on_registered(self, event: Registered) -> None:
        assert event.metadata is not None
        await self.session.execute(
            f"INSERT INTO {self.table} (user_id, name, version) VALUES (%s, %s, %s)",
            (self.aggregate_id(event), event.first_name, event.metadata.position),
        )

    async def on_renamed(self, event: Renamed) -> None:
        assert event.metadata is not None
        await self.session.execute(
            f"UPDATE {self.table} SET name = %s, version = %s WHERE user_id = %s",
            (event.first_name, event.metadata.position, self.aggregate_id(event)),
        )


def test_generated_async_handlers_run_in_an_async_consumer_and_projector_on_messagedb(
    messagedb_uri: str,
) -> None:
    table = f"names_{uuid.uuid4().hex[:12]}"
    name = f"e2e-{uuid.uuid4().hex[:12]}"

    async def scenario() -> None:
        async with (
            connect_async(messagedb_uri, max_size=2) as store,
            AsyncPostgresProjectionTarget(app_database_uri(messagedb_uri)) as target,
        ):
            users = AsyncUserRepository(store)
            ada = User.register(email="ada@example.org", first_name="Ada")
            grace = User.register(email="grace@example.org", first_name="Grace")
            await users.add(ada)
            await users.add(grace)
            first = await store.read_last(User.stream_name(ada.id))
            assert first is not None
            ada.rename(first_name="Augusta")
            await users.add(ada)
            # Both start just before Ada registered: the category holds other tests' users.
            await AsyncPositionStore(store, User.category(), name).put(first.global_position - 1)
            projector = AsyncProjector(store, User.category(), NamesTable(table), target, name=name)
            async with target.transaction(projector.position_name) as transaction:
                await transaction.session.execute(
                    f"CREATE TABLE {table} (user_id text PRIMARY KEY, name text, version int)"
                )
                transaction.position = first.global_position - 1

            welcomes = Welcomes({ada.id, grace.id})
            await AsyncConsumer(store, User.category(), welcomes, name=name).catch_up()
            await projector.catch_up()
            grace.rename(first_name="Grace H.")
            await users.add(grace)
            await projector.catch_up()

            assert welcomes.seen == [
                (ada.id, "Registered"),
                (grace.id, "Registered"),
                (ada.id, "Renamed"),
            ]
            async with target.session() as session:
                cursor = await session.execute(
                    f"SELECT user_id, name, version FROM {table} "
                    "WHERE user_id = ANY(%s) ORDER BY name",
                    ([ada.id, grace.id],),
                )
                rows = await cursor.fetchall()
                await session.execute(f"DROP TABLE {table}")
            assert rows == [(ada.id, "Augusta", 1), (grace.id, "Grace H.", 1)]
            for user in (ada, grace):
                loaded = await users.get(user.id)
                assert (loaded.first_name, loaded._version) == (user.first_name, 1)

    asyncio.run(scenario())
