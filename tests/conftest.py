"""Fixtures shared by the whole suite: real MessageDB, and a store of each kind.

Also how the suite runs in parallel (pytest-xdist, `-n 3 --dist loadgroup`, as
scripts/test.sh runs it): every worker is its own process with its own temporary
directories, and MessageDB tests write to streams with fresh ids, so tests need
nothing from one another. Two kinds of tests are kept together on one worker (by
`ModuleGroupScheduling`, this suite's own xdist scheduler: xdist 3.8's `xdist_group`
marks do nothing under pytest 9, whose items keep the node ids they were collected with):

- `SERIAL_MODULES` load PostgreSQL on purpose (many processes or backends, kills,
  restarts): they form one group and run one after another;
- `SHARED_SETUP_MODULES` build something expensive once per module (a generated
  package, a mypy run): each module is a group, so it is built once.

`LONGEST` (the shards of the property tests over thousands of schemas, the JetStream
leader kills, and the tests that build wheels and environments) go first, longest
first; with `--no-loadscope-reorder` the scheduler hands out work in this order, and
the many short tests after them keep the workers busy to the end. Three workers on
two cores: much of the suite waits (for PostgreSQL, NATS elections, subprocesses),
and a third worker fills that time.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from aggregen.runtime import (
    AsyncInMemoryEventStore,
    AsyncJetStreamEventStore,
    AsyncMessageDBEventStore,
    EventStore,
    InMemoryEventStore,
    JetStreamEventStore,
    MessageDBEventStore,
    connect,
)
from tests.async_support import EventLoopThread, SyncFacade

ROOT = Path(__file__).resolve().parent.parent
MESSAGEDB_URI_VARIABLE = "AGGREGEN_TEST_MESSAGEDB_URI"
NATS_URI_VARIABLE = "AGGREGEN_TEST_NATS_URI"
NATS_CLUSTER = ROOT / "scripts" / "nats-cluster.sh"

SERIAL_MODULES = frozenset(
    {
        "test_async_faults.py",
        "test_async_load.py",
        "test_concurrency.py",
        "test_faults.py",
        "test_load.py",
    }
)
SHARED_SETUP_MODULES = frozenset(
    {
        "test_end_to_end.py",
        "test_evolution_end_to_end.py",
        "test_generated_typing.py",
        "test_injection.py",
        "test_upcast.py",
    }
)


_SCHEMAS = "tests/reliability/test_schema_properties.py::"
_INVALID = f"{_SCHEMAS}test_invalid_schemas_give_positioned_errors_and_no_output"
_VALID = f"{_SCHEMAS}test_valid_schemas_give_code_that_compiles_imports_and_runs"
LONGEST = (
    "tests/test_jetstream_faults.py::test_stream_leader_killed_ten_times_under_contended_writes",
    *(f"{_INVALID}_{n}" for n in range(5)),
    "tests/test_async_faults.py::"
    "test_tasks_cancelled_at_random_points_store_all_or_nothing_and_leave_the_pool_healthy[1]",
    *(
        f"{_SCHEMAS}test_valid_schemas_give_code_that_compiles_imports_and_runs_{n}"
        for n in range(5)
    ),
    "tests/generator/test_black_stable.py::test_every_generated_file_is_black_stable",
    "tests/test_distribution.py::test_the_domain_wheel_runs_on_messagedb_with_the_runtime_alone",
    "tests/test_ci_kit.py::test_the_pre_commit_hooks_run_from_a_projects_configuration",
    f"{_SCHEMAS}test_a_sample_of_valid_outputs_passes_mypy_strict",
    "tests/generator/test_generate_kill.py::"
    "test_generate_killed_at_random_moments_leaves_old_or_new_output",
)
"""Longest first: the JetStream leader kills (two minutes, mostly waiting for
elections), the serial group (scheduled with its first test), the schema properties'
shards, then the tests that build wheels and environments or run mypy."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run `LONGEST` first (the rest keep their order)."""
    rank = {nodeid: index for index, nodeid in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))


def work_group(nodeid: str) -> str:
    """The unit of work a test belongs to: "serial", its module, or itself."""
    path = nodeid.split("::", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if name in SERIAL_MODULES:
        return "serial"
    if name in SHARED_SETUP_MODULES:
        return path
    return nodeid


class ModuleGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """xdist's scope scheduling with `work_group` as the scope: a group's tests go to
    one worker, in collection order."""

    def _split_scope(self, nodeid: str) -> str:
        return work_group(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (scripts/test.sh) schedules by `work_group`."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return ModuleGroupScheduling(config, log)


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


def _nats_cluster(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(NATS_CLUSTER), command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_nats_was_running: list[bool] = []
"""Whether the repository's NATS cluster ran before this session (on the xdist controller)."""


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller (or a run without workers): note whether the NATS cluster runs."""
    if not hasattr(session.config, "workerinput") and not os.environ.get(NATS_URI_VARIABLE):
        _nats_was_running.append(_nats_cluster("status").returncode == 0)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the NATS cluster the session's JetStream tests started (never one that ran before).

    Workers start it (`nats_uri`); the controller stops it once every worker is done:
    at unconfigure, since xdist shuts its workers down (their session fixtures' teardown
    still uses the cluster) in its own `pytest_sessionfinish`.
    """
    if _nats_was_running == [False] and _nats_cluster("status").returncode == 0:
        _nats_cluster("stop", "--wipe")


@pytest.fixture(scope="session")
def nats_uri() -> str:
    """The URI of a 3-node JetStream cluster: AGGREGEN_TEST_NATS_URI, else the repository's
    (scripts/nats-cluster.sh: started here, or reused when it runs; xdist workers share it).

    JetStream tests are never skipped: when the cluster cannot start, they fail and say why.
    """
    uri = os.environ.get(NATS_URI_VARIABLE)
    if uri:
        return uri
    return _printed_uri(_nats_cluster("start"), "the NATS cluster could not start", NATS_CLUSTER)


def _printed_uri(result: subprocess.CompletedProcess[str], problem: str, script: Path) -> str:
    """The URI a setup script printed last; the test fails, saying why, if it failed."""
    if result.returncode != 0:
        pytest.fail(
            f"{problem} ({script} exited {result.returncode}):\n{result.stderr}", pytrace=False
        )
    return result.stdout.strip().splitlines()[-1]


def _jetstream_prefix(nats_uri: str) -> str:
    """`nats_uri` with a JetStream stream of its own (tests of several runs share a cluster)."""
    return f"{nats_uri}/test-{uuid.uuid4().hex[:12]}"


async def _delete_stream(store: AsyncJetStreamEventStore) -> None:
    """Remove the store's JetStream stream (the test data of one session)."""
    await store._api(f"$JS.API.STREAM.DELETE.{store.prefix}", {})
    await store.close()


@pytest.fixture(scope="session")
def jetstream_store(nats_uri: str) -> Iterator[JetStreamEventStore]:
    """One JetStream store (R3) for the session, on a stream of its own."""
    store = JetStreamEventStore(_jetstream_prefix(nats_uri))
    try:
        yield store
    finally:
        store._run(_delete_stream(store.inner))
        store.close()


@pytest.fixture(scope="session")
def async_jetstream_store(
    nats_uri: str, event_loop_thread: EventLoopThread
) -> Iterator[AsyncJetStreamEventStore]:
    """One async JetStream store for the session, on the session's event loop thread."""
    store = AsyncJetStreamEventStore(_jetstream_prefix(nats_uri))
    try:
        yield store
    finally:
        event_loop_thread.run(_delete_stream(store))


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
    return _printed_uri(result, "MessageDB could not be made ready", setup)


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


@pytest.fixture(
    params=[
        "memory",
        "messagedb",
        "async-memory",
        "async-messagedb",
        pytest.param("jetstream", marks=pytest.mark.jetstream),
        pytest.param("async-jetstream", marks=pytest.mark.jetstream),
    ]
)
def any_store(request: pytest.FixtureRequest) -> EventStore:
    """The six stores: in memory, MessageDB and JetStream, sync and async (behind
    `SyncFacade`).

    A conformance module that defines `store` as this fixture runs against all of
    them, which proves that the async stores behave exactly as the sync ones, and
    JetStream as MessageDB (`-m "not jetstream"` leaves JetStream out).
    """
    if request.param == "memory":
        return InMemoryEventStore()
    if request.param in ("messagedb", "jetstream"):
        found: EventStore = request.getfixturevalue(f"{request.param}_store")
        return found
    loop: EventLoopThread = request.getfixturevalue("event_loop_thread")
    if request.param == "async-memory":
        return SyncFacade(AsyncInMemoryEventStore(), loop)
    return SyncFacade(request.getfixturevalue(f"{request.param.replace('-', '_')}_store"), loop)
