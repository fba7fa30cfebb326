"""The runtime's public names, its configuration, and its dependency rules."""

from __future__ import annotations

import ast
import asyncio
import logging
import pathlib
import uuid

import pytest

import aggregen.runtime as runtime
from aggregen.runtime import (
    AsyncEventStore,
    AsyncInMemoryEventStore,
    ConfigurationError,
    EventStore,
    EventStoreError,
    ExpectedVersionError,
    InMemoryEventStore,
    Repository,
    StreamExistsError,
    ValidationError,
    connect,
    connect_async,
    set_snapshot_threshold,
    snapshot_threshold,
)
from aggregen.runtime.redaction import redact, redact_uri
from tests.domain import User

RUNTIME = pathlib.Path(runtime.__file__).parent
TESTS = str(pathlib.Path(__file__).parent)


def test_every_public_name_is_exported_and_importable() -> None:
    assert sorted(runtime.__all__) == runtime.__all__
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None, name
    for required in [
        "Aggregate",
        "Event",
        "Repository",
        "UnitOfWork",
        "InMemoryEventStore",
        "MessageDBEventStore",
        "connect",
        "AggregenError",
        "ExpectedVersionError",
        "AggregateNotFoundError",
        "ValidationError",
    ]:
        assert required in runtime.__all__


def imports_of(path: pathlib.Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_postgresql_modules_import_psycopg_and_nothing_imports_the_generator() -> None:
    for path in RUNTIME.glob("*.py"):
        imported = imports_of(path)
        assert "aggregen" not in imported or path.name == "__init__.py", path
        if path.name not in (
            "messagedb.py",
            "messagedb_pool.py",
            "messagedb_async.py",
            "messagedb_async_batch.py",
            "messagedb_async_pool.py",
            "projection_postgres.py",
            "projection_postgres_async.py",
        ):
            assert not imported & {"psycopg", "psycopg_pool"}, path
        assert not imported & {"jinja2", "yaml", "jsonschema", "black"}, path


OPENERS = {
    "connect": (connect, InMemoryEventStore),
    "connect_async": (connect_async, AsyncInMemoryEventStore),
}
"""Each of the two ways to open a store by URI, and the in-memory store it gives."""


@pytest.mark.parametrize("opener", sorted(OPENERS))
def test_connect_defaults_to_memory_and_rejects_unknown_schemes(
    monkeypatch: pytest.MonkeyPatch, opener: str
) -> None:
    open_store, memory = OPENERS[opener]
    monkeypatch.delenv("AGGREGEN_EVENT_STORE", raising=False)
    assert type(open_store()) is memory
    assert type(open_store("memory://")) is memory
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", "MEMORY:///")
    assert type(open_store()) is memory
    with pytest.raises(ConfigurationError) as caught:
        open_store("mysql://bob:hunter2@db/x")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError):
        open_store("memory://somewhere/else")


@pytest.mark.parametrize(
    "uri", ["memory://", pytest.param("postgresql", marks=pytest.mark.messagedb)]
)
def test_with_and_async_with_give_the_store_and_close_it_at_the_end(
    uri: str, request: pytest.FixtureRequest
) -> None:
    if uri == "postgresql":
        uri = request.getfixturevalue("messagedb_uri")
    stream = f"closing-{uuid.uuid4().hex}"

    opened = connect(uri)
    with opened as store:
        assert store is opened
        assert store.stream_version(stream) == -1
    with pytest.raises(KeyError), connect(uri) as store:  # the block's error goes on
        raise KeyError("from the block")

    async def use_async() -> AsyncEventStore:
        opened = connect_async(uri)
        async with opened as store:
            assert store is opened
            assert await store.stream_version(stream) == -1
        with pytest.raises(KeyError):
            async with connect_async(uri):
                raise KeyError("from the block")
        return store

    closed = asyncio.run(use_async())
    if uri != "memory://":  # the in-memory stores hold nothing to release
        with pytest.raises(EventStoreError, match="closed"):
            store.stream_version(stream)
        with pytest.raises(EventStoreError, match="closed"):
            asyncio.run(closed.stream_version(stream))


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5"])
def test_a_bad_threshold_in_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    set_snapshot_threshold(None)
    monkeypatch.setenv("AGGREGEN_SNAPSHOT_THRESHOLD", raw)
    with pytest.raises(ConfigurationError, match="AGGREGEN_SNAPSHOT_THRESHOLD"):
        snapshot_threshold()


def test_a_bad_threshold_in_code_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        set_snapshot_threshold(-3)


def test_validation_errors_list_every_field() -> None:
    error = ValidationError({"email": ["is required"], "age": ["at least 0", "not a bool"]})
    assert error.messages == {"email": ["is required"], "age": ["at least 0", "not a bool"]}
    assert str(error) == "invalid values: age: at least 0, not a bool; email: is required"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://bob:hunter2@db:5432/x", "hunter2"),
        ("host=db password=hunter2 user=bob", "hunter2"),
        ("host=db password='hunter 2' user=bob", "hunter 2"),
        ("failed for postgres://bob:p%40ss@db/x", "p%40ss"),
        ("postgresql://u:et@At@127.0.0.1/db", "et@At"),
        ("at postgresql://u:et@At@127.0.0.1/db and memory://app:s3cretMem@x", "s3cretMem"),
    ],
)
def test_passwords_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact_uri(text)
    assert "hunter2" not in redact("said hunter2 aloud", "hunter2")


def locals_on_traceback(error: BaseException) -> list[tuple[str, object]]:
    """Every local of every frame on the traceback of `error` and of the errors it chains,
    except the frames of the tests themselves (a test holds its URI)."""
    found: list[tuple[str, object]] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        traceback = current.__traceback__
        while traceback is not None:
            frame = traceback.tb_frame
            if not frame.f_code.co_filename.startswith(TESTS):
                found.extend(
                    (f"{frame.f_code.co_qualname}.{name}", value)
                    for name, value in frame.f_locals.items()
                )
            traceback = traceback.tb_next
        pending += [current.__cause__, current.__context__]
    return found


def assert_hidden(error: BaseException, *secrets: str) -> None:
    """No secret in the error's text, its chained errors' texts, or any local on its traceback."""
    texts = [str(error), repr(error), str(error.__cause__), str(error.__context__)]
    for secret in secrets:
        for text in texts:
            assert secret not in text, text
        for name, value in locals_on_traceback(error):
            assert secret not in repr(value), name
            assert not (isinstance(value, str) and secret in value), name


@pytest.mark.parametrize(
    ("uri", "secrets"),
    [
        ("memory://app:s3cretMem@x", ["s3cretMem"]),
        ("MEMORY://app:s3cretMem@x/", ["s3cretMem"]),
        ("mysql://bob:hunter2@db/x", ["hunter2"]),
        ("postgresql://u:s3cr%41t%zz@127.0.0.1/db", ["s3cr%41t%zz", "s3crAt", "%zz"]),
        ("postgresql://u:et@At@127.0.0.1/db", ["et@At", "At@", ":et"]),
        ("postgresql://u@127.0.0.1/db?password=s3cr%zz", ["s3cr%zz", "s3cr"]),
        ("postgresql://u:pw-s3cret@127.0.0.1/db?no_such_option=1", ["pw-s3cret"]),
    ],
)
@pytest.mark.parametrize("opener", sorted(OPENERS))
def test_a_uri_that_cannot_be_used_is_refused_without_showing_its_password(
    uri: str, secrets: list[str], opener: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        OPENERS[opener][0](uri)
    assert_hidden(caught.value, *secrets)


@pytest.mark.parametrize("opener", sorted(OPENERS))
def test_an_unescaped_at_sign_never_reaches_the_driver_or_its_debug_log(
    caplog: pytest.LogCaptureFixture, opener: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError, match="unescaped '@'"):
        OPENERS[opener][0]("postgresql://u:et@At@127.0.0.1/db")
    assert "At@" not in caplog.text


def test_creating_an_aggregate_whose_stream_exists_says_so(store: EventStore) -> None:
    users = Repository(User, store)
    user = User.register(email="first@example.org")
    users.add(user)
    again = User.register(email="second@example.org", id=user.id)
    with pytest.raises(StreamExistsError) as caught:
        users.add(again)
    assert isinstance(caught.value, ExpectedVersionError)
    assert str(caught.value) == (
        f"stream 'user-{user.id}' already exists (at version 0): the write expected a new stream"
    )
    assert (caught.value.expected_version, caught.value.actual_version) == (-1, 0)
    renamed = users.get(user.id)
    stale = users.get(user.id)
    renamed.rename(first_name="A")
    users.add(renamed)
    stale.rename(first_name="B")
    with pytest.raises(ExpectedVersionError) as conflict:
        users.add(stale)
    assert not isinstance(conflict.value, StreamExistsError)
