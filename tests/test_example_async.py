"""The async example app (examples/async_app.py) through Starlette's test client:
on the in-memory store with its SQLite read model, and on MessageDB with its read
model in PostgreSQL.

On MessageDB each test gets a database of its own, copied from an empty MessageDB made
once: the app's projector reads the whole User category, which other tests fill in
the shared database.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from identity import UserRepository
from starlette.testclient import TestClient

from aggregen.runtime import connect
from tests.conftest import ROOT
from tests.own_databases import own_database, ready_template

TEMPLATE = "aggregen_example_async_template"
"""An empty MessageDB database, the template of each test's own (nobody connects to it)."""


def load_example() -> Any:
    """The example's module, loaded from its file (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "aggregen_example_async_app", ROOT / "examples" / "async_app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def template(messagedb_uri: str) -> str:
    """The URI of the server's `postgres` database, once `TEMPLATE` is ready."""
    return ready_template(messagedb_uri, TEMPLATE)


@pytest.fixture
def own_messagedb(template: str) -> Iterator[str]:
    """The URI of a new, empty MessageDB database, dropped after the test."""
    with own_database(template, TEMPLATE, "aggregen_example_async") as uri:
        yield uri


@pytest.fixture(params=["memory", pytest.param("messagedb", marks=pytest.mark.messagedb)])
def uri(request: pytest.FixtureRequest) -> str:
    """The `AGGREGEN_EVENT_STORE` the app runs on; its read model is beside it."""
    if request.param == "memory":
        return "memory://"
    uri: str = request.getfixturevalue("own_messagedb")
    return uri


@pytest.fixture
def client(uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A test client of a fresh app; the app's store and read model open and close with it.

    On MessageDB the read model is in the store's own database (its own tables).
    """
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", uri)
    if uri == "memory://":
        monkeypatch.delenv("AGGREGEN_APP_DATABASE", raising=False)
    else:
        monkeypatch.setenv("AGGREGEN_APP_DATABASE", uri)
    with TestClient(load_example().create_app()) as client:
        yield client


def register(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/users", json={"email": "ada@example.org", **fields})
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/users/{user['id']}"
    return user


def test_a_registered_user_is_read_back(client: TestClient) -> None:
    user = register(client, first_name="Ada", joined_on="2024-01-15")
    assert user["email"] == "ada@example.org"
    assert user["first_name"] == "Ada"
    assert user["joined_on"] == "2024-01-15"
    assert user["version"] == 0
    response = client.get(f"/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user


def test_an_unknown_user_is_404(client: TestClient) -> None:
    assert client.get("/users/no-such-user").status_code == 404
    response = client.patch("/users/no-such-user", json={"first_name": "Ann"})
    assert response.status_code == 404
    assert "no-such-user" in response.json()["error"]


def test_a_rename_at_a_stale_version_is_409(client: TestClient) -> None:
    user = register(client, first_name="Ada")
    path = f"/users/{user['id']}"
    first = client.patch(path, json={"first_name": "Augusta", "version": 0})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    stale = client.patch(path, json={"first_name": "Countess", "version": 0})
    assert stale.status_code == 409
    assert stale.json()["version"] == 1
    assert "expected version 0" in stale.json()["error"]
    latest = client.patch(path, json={"first_name": "Ada"})
    assert latest.status_code == 200
    assert latest.json()["version"] == 2
    assert client.get(path).json()["first_name"] == "Ada"


def test_invalid_input_is_422(client: TestClient) -> None:
    response = client.post("/users", json={"first_name": "x" * 60})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"email", "first_name"}
    assert client.post("/users", content=b"not json").status_code == 422
    assert client.post("/users", json={"email": "a@b.c", "joined_on": "soon"}).status_code == 422
    user = register(client)
    path = f"/users/{user['id']}"
    assert client.patch(path, json={"first_name": "x" * 60}).status_code == 422
    assert client.patch(path, json={"first_name": "Ann", "version": 5}).status_code == 422
    assert client.patch(path, json={"first_name": "Ann", "version": "0"}).status_code == 422
    assert client.get(path).json()["version"] == 0


def found_by_email(client: TestClient, email: str, *ids: str) -> list[dict[str, Any]]:
    """`GET /users?email=`'s users once they are those of `ids` (the projector runs beside
    the requests), or as they are after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        response = client.get("/users", params={"email": email})
        assert response.status_code == 200, response.text
        users: list[dict[str, Any]] = response.json()["users"]
        if [user["id"] for user in users] == list(ids) or time.monotonic() > deadline:
            return users
        time.sleep(0.02)


def test_the_read_model_finds_users_by_email(client: TestClient) -> None:
    ada = register(client, first_name="Ada")
    grace = register(client, email="grace@example.org", first_name="Grace")
    client.patch(f"/users/{grace['id']}", json={"first_name": "Grace H."})

    assert found_by_email(client, "ada@example.org", ada["id"]) == [ada]
    (found,) = found_by_email(client, "grace@example.org", grace["id"])
    assert (found["id"], found["first_name"], found["version"]) == (grace["id"], "Grace H.", 1)
    assert found_by_email(client, "nobody@example.org") == []
    assert client.get("/users").status_code == 422


@pytest.mark.messagedb
def test_on_messagedb_the_read_model_outlives_the_app(
    own_messagedb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = own_messagedb
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", uri)
    monkeypatch.setenv("AGGREGEN_APP_DATABASE", uri)
    with TestClient(load_example().create_app()) as client:
        first = register(client)
        assert found_by_email(client, "ada@example.org", first["id"]) == [first]
    with TestClient(load_example().create_app()) as client:
        second = register(client, first_name="Ada L.")  # the same email: the latest wins
        assert found_by_email(client, "ada@example.org", second["id"]) == [second]
    with psycopg.connect(uri) as connection:
        rows = connection.execute("SELECT email, user_id FROM users_by_email").fetchall()
    assert rows == [("ada@example.org", second["id"])]


@pytest.mark.messagedb
def test_on_messagedb_the_app_writes_what_the_sync_repository_reads(
    own_messagedb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", own_messagedb)
    monkeypatch.setenv("AGGREGEN_APP_DATABASE", own_messagedb)
    with TestClient(load_example().create_app()) as client:
        user = register(client, first_name="Grace")
        assert client.patch(f"/users/{user['id']}", json={"first_name": "G."}).status_code == 200
    store = connect(own_messagedb)
    try:
        stored = UserRepository(store).get(user["id"])
    finally:
        store.close()
    assert (stored.email, stored.first_name, stored._version) == ("ada@example.org", "G.", 1)
