"""Fixtures shared by the whole suite: real MessageDB, and a store of each kind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.runtime import EventStore, InMemoryEventStore, MessageDBEventStore, connect

ROOT = Path(__file__).resolve().parent.parent
MESSAGEDB_URI_VARIABLE = "AGGREGEN_TEST_MESSAGEDB_URI"


@pytest.fixture(scope="session")
def messagedb_uri() -> str:
    """The URI of a ready MessageDB: from AGGREGEN_TEST_MESSAGEDB_URI, else set up here.

    MessageDB tests are never skipped: when MessageDB cannot be made ready, they fail
    and say why.
    """
    uri = os.environ.get(MESSAGEDB_URI_VARIABLE)
    if uri:
        return uri
    setup = ROOT / "scripts" / "messagedb-setup.sh"
    result = subprocess.run(
        ["bash", str(setup)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"MessageDB could not be made ready ({setup} exited {result.returncode}):\n"
            f"{result.stderr}",
            pytrace=False,
        )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def messagedb_store(messagedb_uri: str) -> Iterator[MessageDBEventStore]:
    """One pooled MessageDB store for the session (tests use fresh stream ids)."""
    store = connect(messagedb_uri, max_size=8)
    assert isinstance(store, MessageDBEventStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["memory", "messagedb"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """Each conformance test runs once per store: in memory and on real MessageDB."""
    if request.param == "memory":
        return InMemoryEventStore()
    messagedb: MessageDBEventStore = request.getfixturevalue("messagedb_store")
    return messagedb
