"""What every benchmark suite shares: sizes, timing and the JSON it prints.

Standard library only: the peers' suites import this module from their own
virtual environment, where aggregen is not installed.

A suite is run as `python -m benchmarks.SUITE --config JSON` and prints one JSON
object on stdout: `{"suite": ..., "versions": {...}, "results": [RESULT, ...]}`,
each RESULT `{"op", "store", "kind", "samples"}` where `kind` is `rate` (events or
commands per second, higher is better) or `time` (seconds, lower is better) and
`samples` holds one number per repetition. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "JOINED_ON",
    "MESSAGEDB_URI",
    "Result",
    "Sizes",
    "emit",
    "log",
    "parse_args",
    "paused_gc",
    "time_call",
    "time_once",
]

MESSAGEDB_URI = "postgresql://postgres@127.0.0.1:5432/message_store"
JOINED_ON = datetime.date(2024, 1, 15)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sizes:
    """How much work each measurement does, and how often it is repeated.

    `commands`: commits in the one-command-per-commit workloads; `batches`: commits
    of `batch` events; `stream`: events of the rehydrated stream; `big_stream`:
    events of the memory workload; `category`: events of the category the read-side
    workloads read (consumers, projections, consumer-group reads); `peer_projection`:
    at most this many of them projected by eventsourcing, which commits each event on
    its own; `jetstream_category`: events of the category both consumers of the
    JetStream suite read; `repeat`: repetitions inside one suite run (the harness also runs each
    suite several times, interleaved with the others).
    """

    commands: int = 300
    batches: int = 30
    batch: int = 100
    stream: int = 1000
    big_stream: int = 100_000
    category: int = 100_000
    peer_projection: int = 5_000
    jetstream_category: int = 100_000
    repeat: int = 3

    @classmethod
    def tiny(cls) -> Sizes:
        """Sizes that finish in a few seconds; only for checking the harness works."""
        return cls(
            commands=20,
            batches=3,
            batch=100,
            stream=200,
            big_stream=2000,
            category=2000,
            peer_projection=500,
            jetstream_category=2000,
            repeat=1,
        )


@dataclasses.dataclass(kw_only=True)
class Result:
    """The samples of one operation on one store."""

    op: str
    store: str
    kind: str
    samples: list[float] = dataclasses.field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form the harness reads."""
        return dataclasses.asdict(self)


def parse_args(description: str) -> tuple[Sizes, dict[str, Any]]:
    """Read `--config JSON` (sizes and settings) from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default="{}", help="JSON object: sizes and settings")
    args = parser.parse_args()
    config: dict[str, Any] = json.loads(args.config)
    names = {f.name for f in dataclasses.fields(Sizes)}
    sizes = Sizes(**{k: v for k, v in config.get("sizes", {}).items() if k in names})
    return sizes, config


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The garbage collector collected on entry and paused inside (timings use it)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_once(action: Callable[[], object]) -> float:
    """Seconds `action` takes, the garbage collector collected before and paused during."""
    with paused_gc():
        start = time.perf_counter()
        action()
        return time.perf_counter() - start


def time_call(action: Callable[[], T]) -> tuple[float, T]:
    """Seconds `action` takes and what it returned; the collector as in `time_once`."""
    returned: list[T] = []
    seconds = time_once(lambda: returned.append(action()))
    return seconds, returned[0]


def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON)."""
    print(message, file=sys.stderr, flush=True)


def emit(suite: str, versions: dict[str, str], results: list[Result]) -> None:
    """Print the suite's JSON document on stdout."""
    document = {
        "suite": suite,
        "versions": versions,
        "results": [r.to_json() for r in results],
    }
    json.dump(document, sys.stdout)
    sys.stdout.write("\n")
