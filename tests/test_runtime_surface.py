"""The runtime's public names, its configuration, and its dependency rules."""

from __future__ import annotations

import ast
import pathlib

import pytest

import aggregen.runtime as runtime
from aggregen.runtime import (
    ConfigurationError,
    InMemoryEventStore,
    ValidationError,
    connect,
    set_snapshot_threshold,
    snapshot_threshold,
)
from aggregen.runtime.redaction import redact, redact_uri

RUNTIME = pathlib.Path(runtime.__file__).parent


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
        if path.name not in ("messagedb.py", "messagedb_pool.py", "projection_postgres.py"):
            assert not imported & {"psycopg", "psycopg_pool"}, path
        assert not imported & {"jinja2", "yaml", "jsonschema", "black"}, path


def test_connect_defaults_to_memory_and_rejects_unknown_schemes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AGGREGEN_EVENT_STORE", raising=False)
    assert isinstance(connect(), InMemoryEventStore)
    assert isinstance(connect("memory://"), InMemoryEventStore)
    with pytest.raises(ConfigurationError) as caught:
        connect("mysql://bob:hunter2@db/x")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError):
        connect("memory://somewhere/else")


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
    ],
)
def test_passwords_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact_uri(text)
    assert "hunter2" not in redact("said hunter2 aloud", "hunter2")
