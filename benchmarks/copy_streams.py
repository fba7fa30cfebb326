"""Moving streams between stores: `copy_streams` and `verify_streams`, MessageDB to MessageDB.

Standalone (`.venv/bin/python -m benchmarks.copy_streams [--messages N]`), not a
suite. Writes `--messages` events (5 per stream write, 100 stream writes per commit,
over 1,000 streams of two categories) into a database of its own, copies it into a
new database once per `--batch-sizes` entry, runs each copy again (everything found
there already) and verifies it; prints each time and rate, then drops the databases.
The databases are copies of an empty MessageDB template on the server of `--uri`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from aggregen.runtime import EventStore, connect
from aggregen.runtime.copy import copy_streams, verify_streams
from aggregen.runtime.message import NewMessage, StreamWrite, uuid4_string

from .common import MESSAGEDB_URI, time_call

TEMPLATE = "aggregen_copy_bench_template"
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def databases(uri: str, count: int) -> Iterator[list[str]]:
    """URIs of `count` new, empty MessageDB databases, dropped at the end."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "messagedb-setup.sh")],
        env={**os.environ, "MESSAGE_DB_NAME": TEMPLATE},
        capture_output=True,
        check=True,
    )
    admin = urlsplit(uri)._replace(path="/postgres").geturl()
    names = [f"aggregen_copy_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with psycopg.connect(admin, autocommit=True) as conn:
        try:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
            yield [urlsplit(uri)._replace(path=f"/{name}").geturl() for name in names]
        finally:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(store: EventStore, messages: int) -> None:
    """`messages` events, 500 a commit, over 1,000 streams of the categories account and order."""
    data = {"name": "x" * 40, "lines": [1, 2, 3]}
    for commit in range(messages // 500):
        store.append(
            [
                StreamWrite(
                    f"{'account' if i % 2 else 'order'}-{(commit * 7 + i) % 1000}",
                    None,
                    [NewMessage(uuid4_string(), "Happened", data, {"n": commit}) for _ in range(5)],
                )
                for i in range(100)
            ]
        )


def measure(source: EventStore, target: EventStore, size: int) -> None:
    """Copy into the empty `target` `size` messages a commit, copy again, verify; print."""
    seconds, report = time_call(lambda: copy_streams(source, target, batch_size=size))
    print(
        f"batch {size}: {report.copied} messages of {report.streams} streams "
        f"in {seconds:.2f} s, {report.copied / seconds:,.0f} messages/s"
    )
    seconds, report = time_call(lambda: copy_streams(source, target, batch_size=size))
    print(f"  again, {report.present} there already: {seconds:.2f} s")
    seconds, found = time_call(lambda: verify_streams(source, target))
    print(f"  verify: {len(found)} streams differ, {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--messages", type=int, default=20_000, help="events [20000]")
    parser.add_argument("--batch-sizes", default="500,100", help="messages a commit [500,100]")
    parser.add_argument("--uri", default=MESSAGEDB_URI)
    args = parser.parse_args()
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    with (
        databases(args.uri, 1 + len(sizes)) as (source_uri, *target_uris),
        connect(source_uri) as source,
    ):
        fill(source, args.messages)
        for target_uri, size in zip(target_uris, sizes, strict=True):
            with connect(target_uri) as target:
                measure(source, target, size)
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
