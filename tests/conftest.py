"""Fixtures shared by the whole suite: real MessageDB, and a store of each kind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.runtime import (
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    EventStore,
    InMemoryEventStore,
    MessageDBEventStore,
    connect,
)
from tests.async_support import EventLoopThread, SyncFacade

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


@pytest.fixture(scope="session")
def event_loop_thread() -> Iterator[EventLoopThread]:
    """An event loop in a thread of its own, for the async stores behind `SyncFacade`."""
    loop = EventLoopThread()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture(scope="session")
def async_messagedb_store(
    messagedb_uri: str, event_loop_thread: EventLoopThread
) -> Iterator[AsyncMessageDBEventStore]:
    """One async MessageDB store for the session, on the session's event loop thread."""
    store = AsyncMessageDBEventStore(messagedb_uri, max_size=8)
    try:
        yield store
    finally:
        event_loop_thread.run(store.close())


@pytest.fixture(params=["memory", "messagedb", "async-memory", "async-messagedb"])
def any_store(request: pytest.FixtureRequest) -> EventStore:
    """The four stores: in memory and MessageDB, sync and async (behind `SyncFacade`).

    A conformance module that defines `store` as this fixture runs against all four,
    which proves that the async stores behave exactly as the sync ones.
    """
    if request.param in ("memory", "messagedb"):
        if request.param == "memory":
            return InMemoryEventStore()
        messagedb: MessageDBEventStore = request.getfixturevalue("messagedb_store")
        return messagedb
    loop: EventLoopThread = request.getfixturevalue("event_loop_thread")
    if request.param == "async-memory":
        return SyncFacade(AsyncInMemoryEventStore(), loop)
    return SyncFacade(request.getfixturevalue("async_messagedb_store"), loop)
