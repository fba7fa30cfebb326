"""The async example app (examples/async_app.py) through Starlette's test client,
on the in-memory store and on MessageDB."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest
from identity import UserRepository
from starlette.testclient import TestClient

from aggregen.runtime import connect
from tests.conftest import ROOT


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


@pytest.fixture(params=["memory", pytest.param("messagedb", marks=pytest.mark.messagedb)])
def uri(request: pytest.FixtureRequest) -> str:
    """The `AGGREGEN_EVENT_STORE` the app runs on."""
    if request.param == "memory":
        return "memory://"
    uri: str = request.getfixturevalue("messagedb_uri")
    return uri


@pytest.fixture
def client(uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A test client of a fresh app; the app's store opens and closes with it."""
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", uri)
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


@pytest.mark.messagedb
def test_on_messagedb_the_app_writes_what_the_sync_repository_reads(
    messagedb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGGREGEN_EVENT_STORE", messagedb_uri)
    with TestClient(load_example().create_app()) as client:
        user = register(client, first_name="Grace")
        assert client.patch(f"/users/{user['id']}", json={"first_name": "G."}).status_code == 200
    store = connect(messagedb_uri)
    try:
        stored = UserRepository(store).get(user["id"])
    finally:
        store.close()
    assert (stored.email, stored.first_name, stored._version) == ("ada@example.org", "G.", 1)
