"""Fixtures shared by the whole suite: real MessageDB, and a store of each kind.

Also how the suite runs in parallel (pytest-xdist, `-n 2 --dist loadgroup`, as
scripts/test.sh runs it): every worker is its own process with its own temporary
directories, and MessageDB tests write to streams with fresh ids, so tests need
nothing from one another. Two kinds of tests are kept together on one worker:

- `SERIAL_MODULES` load the machine or the database on purpose (many processes,
  timed loops): they share the xdist group "serial" and run one after another;
- `SHARED_SETUP_MODULES` build something expensive once per module (a generated
  package, a mypy run): their tests share the module's group, so it is built once.

`LONGEST` (property tests over thousands of schemas, most of the suite's time, and
the slowest tests that build wheels and environments) go first, longest first, so
that each worker starts with one of them; with `--no-loadscope-reorder` the
scheduler hands out work in this order, and the many short tests after them keep
both workers busy to the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

SERIAL_MODULES = frozenset({"test_concurrency.py", "test_faults.py", "test_load.py"})
SHARED_SETUP_MODULES = frozenset(
    {
        "test_end_to_end.py",
        "test_evolution_end_to_end.py",
        "test_generated_typing.py",
        "test_injection.py",
        "test_upcast.py",
    }
)


LONGEST = (
    "tests/reliability/test_schema_properties.py::"
    "test_invalid_schemas_give_positioned_errors_and_no_output",
    "tests/reliability/test_schema_properties.py::"
    "test_valid_schemas_give_code_that_compiles_imports_and_runs",
    "tests/generator/test_black_stable.py::test_every_generated_file_is_black_stable",
    "tests/test_distribution.py::test_the_domain_wheel_runs_on_messagedb_with_the_runtime_alone",
    "tests/test_ci_kit.py::test_pre_commit_try_repo_runs_the_hooks",
    "tests/reliability/test_schema_properties.py::test_a_sample_of_valid_outputs_passes_mypy_strict",
)
"""Longest first (seconds of a 2-worker run, 2026-11-30: 179, 124, 103, 44, 38, 28);
the many short tests after them fill both workers to the end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run `LONGEST` first; put the tests of `SERIAL_MODULES` and `SHARED_SETUP_MODULES`
    in their xdist groups."""
    rank = {nodeid: index for index, nodeid in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep order
    for item in items:
        name = item.path.name
        if name in SERIAL_MODULES:
            item.add_marker(pytest.mark.xdist_group("serial"))
        elif name in SHARED_SETUP_MODULES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


_worker_tallies: dict[str, int] = {}
"""The reliability tests' counts, added up from the xdist workers (tests/reliability)."""


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add up what a worker counted."""
    tally = getattr(node, "workeroutput", {}).get("aggregen_reliability_tally", {})
    for kind, count in tally.items():
        _worker_tallies[kind] = _worker_tallies.get(kind, 0) + count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(_worker_tallies.values()):
        counts = ", ".join(f"{kind}: {count}" for kind, count in _worker_tallies.items())
        terminalreporter.write_line(f"reliability: schemas tried: {counts}")


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
