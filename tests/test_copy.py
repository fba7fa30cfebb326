"""Moving streams between stores: `aggregen.runtime.copy` over every pair of stores.

Each MessageDB store is a database of its own (a copy of an empty MessageDB made
once), dropped after the test: a copy of "every category" must see only the test's
own. A new store joins the pairs through `STORES` and `PAIRS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from aggregen.runtime import ConfigurationError, EventStore, InMemoryEventStore, connect
from aggregen.runtime.copy import (
    CopyError,
    copy_streams,
    list_categories,
    verify_streams,
)
from aggregen.runtime.message import NewMessage, RecordedMessage, StreamWrite, uuid4_string
from tests.conftest import ROOT, _jetstream_prefix
from tests.own_databases import own_database, ready_template

TEMPLATE = "aggregen_copy_template"
"""An empty MessageDB database, the template of each test's own (nobody connects to it)."""

CATEGORIES = ["account", "account:snapshot", "order"]
POSITIONS = "account:position"


@pytest.fixture(scope="session")
def admin_uri(messagedb_uri: str) -> str:
    """The URI of the server's `postgres` database, once `TEMPLATE` is ready."""
    return ready_template(messagedb_uri, TEMPLATE)


@pytest.fixture
def new_database(admin_uri: str) -> Iterator[Callable[[], str]]:
    """Makes new, empty MessageDB databases (their URIs), all dropped after the test."""
    with contextlib.ExitStack() as databases:
        yield lambda: databases.enter_context(own_database(admin_uri, TEMPLATE, "aggregen_copy"))


STORES: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "memory": lambda request: "memory://",
    "messagedb": lambda request: request.getfixturevalue("new_database")(),
    # a JetStream stream of its own on the session's 3-node cluster
    "jetstream": lambda request: _jetstream_prefix(request.getfixturevalue("nats_uri")),
}
"""Kind of store -> a URI for a new, empty store of that kind (memory:// is new each time)."""

PAIRS = [
    pytest.param(("memory", "memory"), id="memory-memory"),
    pytest.param(("memory", "messagedb"), id="memory-messagedb", marks=pytest.mark.messagedb),
    pytest.param(("messagedb", "memory"), id="messagedb-memory", marks=pytest.mark.messagedb),
    pytest.param(("messagedb", "messagedb"), id="messagedb-messagedb", marks=pytest.mark.messagedb),
    # what a team moving to JetStream runs (JetStream as a source:
    # test_a_jetstream_source_is_copied_without_naming_categories)
    pytest.param(("memory", "jetstream"), id="memory-jetstream", marks=pytest.mark.jetstream),
    pytest.param(
        ("messagedb", "jetstream"),
        id="messagedb-jetstream",
        marks=[pytest.mark.messagedb, pytest.mark.jetstream],
    ),
]


@pytest.fixture
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[EventStore, EventStore]]:
    """A new source and target store of the kinds the test is parametrised with."""
    source_kind, target_kind = request.param
    with (
        connect(STORES[source_kind](request)) as source,
        connect(STORES[target_kind](request)) as target,
    ):
        yield source, target


def message(n: int, *, metadata: bool = True) -> NewMessage:
    """A message with nested, non-ASCII data; metadata or none."""
    data = {"n": n, "name": f"Zoë {n}", "lines": [{"sku": "a", "qty": n}], "price": n / 4}
    meta = {"correlationStreamName": f"request-{n}", "schemaVersion": 1} if metadata else None
    return NewMessage(uuid4_string(), f"Happened{n % 3}", data, meta)


def fill(store: EventStore, seed: int = 7) -> int:
    """A history over `CATEGORIES` and `POSITIONS`; the number of messages to copy.

    Appends touch one to three streams of several categories at once, so the
    categories' messages interleave in global order.
    """
    rng = random.Random(seed)
    streams = [f"account-{i}" for i in range(6)] + [f"order-{i}+x" for i in range(4)]
    streams += ["account:snapshot-1", "account:snapshot-2"]
    copied = 0
    for step in range(60):
        writes = []
        for name in rng.sample(streams, rng.randint(1, 3)):
            messages = [message(step * 10 + k, metadata=bool(k % 2)) for k in range(3)]
            writes.append(
                StreamWrite(name, store.stream_version(name), messages[: rng.randint(1, 3)])
            )
            copied += len(writes[-1].messages)
        store.append(writes)
        if step % 20 == 19:  # a consumer of accounts records where it is
            handled = rng.choice(store.read_category("account", batch_size=100_000))
            position = NewMessage(
                uuid4_string(), "Updated", {"position": handled.global_position}, None
            )
            store.append([StreamWrite(f"{POSITIONS}-projector", None, [position])])
    return copied


def category_messages(store: EventStore, category: str) -> list[RecordedMessage]:
    """The whole category, in global order."""
    return store.read_category(category, batch_size=100_000)


def content(messages: list[RecordedMessage]) -> list[tuple[Any, ...]]:
    """What a copy keeps of each message (not its global position or time)."""
    return [(m.id, m.stream_name, m.type, m.position, m.data, m.metadata) for m in messages]


def assert_same_history(source: EventStore, target: EventStore) -> None:
    """Each copied category holds the same messages in the same order; positions are not copied."""
    for category in CATEGORIES:
        assert content(category_messages(target, category)) == content(
            category_messages(source, category)
        ), category
    assert category_messages(target, POSITIONS) == []


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_copy_gives_the_target_every_stream_as_the_source_has_it(
    stores: tuple[EventStore, EventStore],
) -> None:
    source, target = stores
    total = fill(source)

    report = copy_streams(source, target, batch_size=37)

    assert_same_history(source, target)
    assert (report.copied, report.present, report.streams) == (total, 0, 12)
    assert report.categories == CATEGORIES
    assert report.left_out == [POSITIONS]
    assert POSITIONS in report.summary()
    assert verify_streams(source, target) == []


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_a_second_copy_writes_nothing_and_a_later_one_copies_only_what_is_new(
    stores: tuple[EventStore, EventStore],
) -> None:
    source, target = stores
    total = fill(source)
    copy_streams(source, target, batch_size=50)

    again = copy_streams(source, target, batch_size=50)
    assert (again.copied, again.present) == (0, total)

    more = fill(source, seed=8)
    later = copy_streams(source, target, batch_size=50)
    assert (later.copied, later.present) == (more, total)
    assert_same_history(source, target)


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_named_categories_alone_are_copied(stores: tuple[EventStore, EventStore]) -> None:
    source, target = stores
    fill(source)

    report = copy_streams(source, target, ["order", "order"])

    assert report.categories == ["order"]
    assert category_messages(target, "account") == []
    assert content(category_messages(target, "order")) == content(
        category_messages(source, "order")
    )
    assert verify_streams(source, target, ["order"]) == []


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_translated_positions_point_consumers_of_the_target_at_the_same_messages(
    stores: tuple[EventStore, EventStore],
) -> None:
    source, target = stores
    total = fill(source)

    report = copy_streams(source, target, positions="translate", batch_size=20)

    assert (report.translated, report.left_out, report.copied) == ([POSITIONS], [], total + 3)
    assert "consumer positions translated: account:position" in report.summary()
    recorded = list(source.read(f"{POSITIONS}-projector"))
    translated = list(target.read(f"{POSITIONS}-projector"))
    assert [m.id for m in translated] == [m.id for m in recorded]
    for ours, theirs in zip(recorded, translated, strict=True):
        next_in_source = source.read_category("account", ours.data["position"] + 1)
        next_in_target = target.read_category("account", theirs.data["position"] + 1)
        assert content(next_in_target) == content(next_in_source)
    assert verify_streams(source, target, positions="translate") == []
    again = copy_streams(source, target, positions="translate")
    assert (again.copied, again.present) == (0, total + 3)


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_a_target_stream_with_other_messages_is_refused_by_name(
    stores: tuple[EventStore, EventStore],
) -> None:
    source, target = stores
    fill(source)
    target.append([StreamWrite("account-3", -1, [message(1)])])

    with pytest.raises(CopyError, match=r"target stream 'account-3' already holds other messages"):
        copy_streams(source, target)
    assert [m.id for m in target.read("account-3")][:1] != [next(source.read("account-3")).id]


@pytest.mark.parametrize("stores", PAIRS, indirect=True)
def test_a_message_id_stored_under_another_target_stream_is_refused_by_name(
    stores: tuple[EventStore, EventStore],
) -> None:
    source, target = stores
    first = message(1)
    source.append([StreamWrite("order-1", -1, [first])])
    target.append([StreamWrite("order-2", -1, [first])])

    with pytest.raises(CopyError, match=rf"{first.id} of source stream 'order-1' is stored"):
        copy_streams(source, target)


@pytest.mark.parametrize(
    "kind",
    [
        "memory",
        pytest.param("messagedb", marks=pytest.mark.messagedb),
        pytest.param("jetstream", marks=pytest.mark.jetstream),
    ],
)
def test_every_store_lists_its_categories(kind: str, request: pytest.FixtureRequest) -> None:
    with connect(STORES[kind](request)) as store:
        assert list_categories(store) == []
        fill(store)
        odd = ["", "Ordér.1*>%", "x:position"]  # empty, escaped, without an id
        store.append([StreamWrite(f"{name}-1", None, [message(1)]) for name in odd[:2]])
        store.append([StreamWrite(odd[2], None, [message(2)])])
        assert list_categories(store) == sorted([*CATEGORIES, POSITIONS, *odd])


def test_a_write_without_messages_lists_no_category_in_memory() -> None:
    """As on MessageDB (the store model found it): `categories()` named the category
    of a write of no messages, though no message was stored in it."""
    store = InMemoryEventStore()
    store.append([StreamWrite("empty-1", -1, []), StreamWrite("full-1", -1, [message(1)])])
    assert store.categories() == ["full"]
    assert store.stream_version("empty-1") == -1


@pytest.mark.jetstream
def test_the_async_jetstream_store_lists_its_categories(nats_uri: str) -> None:
    from aggregen.runtime import AsyncJetStreamEventStore

    async def listed() -> tuple[list[str], list[str]]:
        async with AsyncJetStreamEventStore(_jetstream_prefix(nats_uri)) as store:
            empty = await store.categories()
            await store.append([StreamWrite(name, None, [message(1)]) for name in STREAMS])
            return empty, await store.categories()

    assert asyncio.run(listed()) == ([], ["account", "account:snapshot", "order"])


STREAMS = ["order-1", "account-2", "account:snapshot-2", "account-3+x"]


@pytest.mark.messagedb
@pytest.mark.jetstream
def test_a_jetstream_source_is_copied_without_naming_categories(
    request: pytest.FixtureRequest,
) -> None:
    with (
        connect(STORES["jetstream"](request)) as source,
        connect(STORES["messagedb"](request)) as target,
    ):
        total = fill(source)

        report = copy_streams(source, target)

        assert (report.categories, report.left_out) == (CATEGORIES, [POSITIONS])
        assert report.copied == total
        assert_same_history(source, target)
        assert verify_streams(source, target) == []


class NoListing:
    """A store that cannot list its categories (the protocol alone)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.read = store.read
        self.read_category = store.read_category
        self.append = store.append
        self.stream_version = store.stream_version


def test_a_store_that_cannot_list_categories_is_copied_by_naming_them() -> None:
    source, target = InMemoryEventStore(), InMemoryEventStore()
    total = fill(source)
    plain: Any = NoListing(source)

    with pytest.raises(ConfigurationError, match="NoListing cannot list its categories"):
        copy_streams(plain, target)
    report = copy_streams(plain, target, [*CATEGORIES, POSITIONS])

    assert report.copied == total
    assert_same_history(source, target)


@pytest.mark.messagedb
def test_verify_finds_a_tampered_message_and_an_extra_one_and_the_copy_refuses_them(
    new_database: Callable[[], str],
) -> None:
    target_uri = new_database()
    with InMemoryEventStore() as source, connect(target_uri) as target:
        fill(source)
        copy_streams(source, target)
        tampered = list(source.read("order-2+x"))[1]
        with psycopg.connect(target_uri, autocommit=True) as conn:
            conn.execute(
                "UPDATE message_store.messages SET data = '{\"n\": -1}' WHERE id = %s",
                (tampered.id,),
            )
        target.append([StreamWrite("account-4", None, [message(999)])])
        length = source.stream_version("account-4") + 1

        differences = [str(difference) for difference in verify_streams(source, target)]

        assert differences == [
            f"account-4 at position {length}: the target has a message the source lacks "
            f"(source {length} messages, target {length + 1})",
            "order-2+x at position 1: data differs "
            f"(source {length_of(source, 'order-2+x')} messages, "
            f"target {length_of(source, 'order-2+x')})",
        ]
        with pytest.raises(CopyError, match="'account-4' already holds other messages"):
            copy_streams(source, target, ["account"])
        with pytest.raises(CopyError, match=r"'order-2\+x' already holds other messages"):
            copy_streams(source, target, ["order"])


def length_of(store: EventStore, stream_name: str) -> int:
    return store.stream_version(stream_name) + 1


def run_copy(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m aggregen.runtime.copy ARGUMENTS` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "aggregen.runtime.copy", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


KILLED_COPY = """
import os, signal, sys
from aggregen.runtime import connect
from aggregen.runtime.copy import copy_streams

def progress(report):
    if report.copied >= 3 * 7:
        os.kill(os.getpid(), signal.SIGKILL)

with connect(sys.argv[1]) as source, connect(sys.argv[2]) as target:
    copy_streams(source, target, batch_size=7, progress=progress)
"""


@pytest.mark.messagedb
def test_a_copy_killed_midway_continues_when_run_again_and_stores_nothing_twice(
    new_database: Callable[[], str],
) -> None:
    source_uri, target_uri = new_database(), new_database()
    with connect(source_uri) as source, connect(target_uri) as target:
        total = fill(source)

        killed = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(KILLED_COPY), source_uri, target_uri],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert killed.returncode == -9, killed.stderr
        assert sum(len(category_messages(target, c)) for c in CATEGORIES) == 21

        resumed = run_copy(source_uri, target_uri, "--batch-size", "7")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith(f"copied {total - 21} messages (21 already in the target)")

        assert_same_history(source, target)
        verified = run_copy(source_uri, target_uri, "--verify")
        assert (verified.returncode, verified.stdout) == (0, "0 streams differ\n")


@pytest.mark.messagedb
def test_the_command_killed_at_any_moment_of_a_commit_continues_when_run_again(
    new_database: Callable[[], str],
) -> None:
    source_uri, target_uri = new_database(), new_database()
    with connect(source_uri) as source, connect(target_uri) as target:
        total = fill(source) + fill(source, seed=8)
        arguments = [source_uri, target_uri, "--batch-size", "2"]
        copying = subprocess.Popen(
            [sys.executable, "-m", "aggregen.runtime.copy", *arguments],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with psycopg.connect(target_uri, autocommit=True) as conn:
                while conn.execute("SELECT count(*) FROM message_store.messages").fetchone() == (
                    0,
                ):
                    assert copying.poll() is None, "the copy ended before it was killed"
                    time.sleep(0.002)
            copying.send_signal(signal.SIGKILL)  # wherever it is: between commits or in one
        finally:
            copying.kill()
            copying.wait()
        assert copying.returncode == -signal.SIGKILL

        resumed = run_copy(*arguments)

        assert resumed.returncode == 0, resumed.stderr
        counts = re.match(r"copied (\d+) messages \((\d+) already in the target\)", resumed.stdout)
        assert counts is not None, resumed.stdout
        copied, present = int(counts[1]), int(counts[2])
        assert (copied + present, present > 0) == (total, True)
        assert_same_history(source, target)
        assert verify_streams(source, target) == []


@pytest.mark.messagedb
def test_the_command_names_differences_refusals_and_never_a_password(
    new_database: Callable[[], str],
) -> None:
    source_uri, target_uri = new_database(), new_database()
    secret = "copy-s3cret"
    with_password = urlsplit(target_uri)._replace(netloc=f"postgres:{secret}@127.0.0.1:5432")
    target_with_password = with_password.geturl()
    with connect(source_uri) as source, connect(target_uri) as target:
        fill(source)
        target.append([StreamWrite("order-1+x", -1, [message(5)])])

        refused = run_copy(source_uri, target_with_password)
        differing = run_copy(source_uri, target_with_password, "--verify", "--category", "order")

    assert refused.returncode == 1
    assert "aggregen copy: error: target stream 'order-1+x' already holds" in refused.stderr
    assert differing.returncode == 1
    assert "\norder-1+x at position 0: id differs: source '" in differing.stdout
    assert differing.stdout.endswith("\n4 streams differ\n")
    assert "postgres:***@127.0.0.1" in refused.stderr
    for done in (refused, differing):
        assert secret not in done.stdout + done.stderr


@pytest.mark.messagedb
def test_a_database_without_messagedb_is_named_and_nothing_is_written(
    admin_uri: str, new_database: Callable[[], str]
) -> None:
    secret = "plain-s3cret"
    with own_database(admin_uri, "template0", "aggregen_plain") as plain_uri:
        plain = urlsplit(plain_uri)
        shown = plain._replace(netloc="postgres:***@127.0.0.1:5432").geturl()
        with_password = plain._replace(netloc=f"postgres:{secret}@127.0.0.1:5432").geturl()
        installed_uri = new_database()
        with connect(installed_uri) as installed:
            fill(installed)
            before = {c: content(category_messages(installed, c)) for c in CATEGORIES}

            from_plain = run_copy(with_password, installed_uri)
            from_plain_named = run_copy(with_password, installed_uri, "--category", "order")
            to_plain = run_copy(installed_uri, with_password)

            assert {c: content(category_messages(installed, c)) for c in CATEGORIES} == before
        with psycopg.connect(plain_uri) as conn:  # nothing created in the plain target either
            tables = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            ).fetchone()
        assert tables == (0,)
    named = [(from_plain, "FROM_URI"), (from_plain_named, "FROM_URI"), (to_plain, "TO_URI")]
    for done, side in named:
        assert done.returncode == 1, done.stderr
        assert (
            f"aggregen copy: error: {side} {shown}: MessageDB is not installed in this database"
            in done.stderr
        ), done.stderr
        assert "Traceback" not in done.stderr
        assert secret not in done.stdout + done.stderr


def test_aggregen_copy_runs_without_the_generator() -> None:
    hidden = "import sys\n" + "".join(
        f"sys.modules[{name!r}] = None\n" for name in ("yaml", "jinja2", "black")
    )
    command = "from aggregen.cli import main\nsys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", f"{hidden}{command}", "copy", "memory://", "memory://"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (
        0,
        "copied 0 messages (0 already in the target) of 0 streams in 0 categories\n",
    )


@pytest.mark.messagedb
def test_the_python_examples_of_the_docs_run(new_database: Callable[[], str]) -> None:
    page = (ROOT / "docs" / "moving-stores.md").read_text()
    examples = [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]
    assert len(examples) == 2
    source_uri, target_uri = new_database(), new_database()
    with connect(source_uri) as source:
        fill(source)
        handled = source.read_category("account", batch_size=5)[-1]
    namespace: dict[str, Any] = {"SOURCE_URI": source_uri, "TARGET_URI": target_uri}
    exec(examples[1], namespace)  # the copy
    namespace["old_position"] = handled.global_position
    exec(examples[0], namespace)  # a projection's position translated
    with connect(target_uri) as target:
        after = target.read_category("account", namespace["new_position"] + 1, batch_size=1)
    with connect(source_uri) as source:
        expected = source.read_category("account", handled.global_position + 1, batch_size=1)
    assert [m.id for m in after] == [m.id for m in expected]
