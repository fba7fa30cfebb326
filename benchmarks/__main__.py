"""`python -m benchmarks`: run every suite, interleaved, and write the report.

Steps: make MessageDB ready (scripts/messagedb-setup.sh); create or update the
peers' virtual environment (benchmarks/.venv-peers, from requirements-peers.txt);
run the suites as separate processes, round after round in rotating order (aggregen,
the raw ceiling, the paired, the async and the JetStream suites in the project's environment,
Protean and
eventsourcing in the peers'); run the generator suites once; write
results/latest.json, latest.md and, with matplotlib from the peers' environment,
latest.png.

`--tiny` runs aggregen's suites only (aggregen, paired with raw, async against
sync, JetStream against MessageDB, and the import time of the runtime), at tiny sizes,
into results/tmp/ (for CI).
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import Sizes, log
from .nats_cluster import running_cluster
from .report import evaluate_targets, render_markdown, summarize

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_VENV = HERE / ".venv-peers"
REQUIREMENTS = HERE / "requirements-peers.txt"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"


def parse_args() -> argparse.Namespace:
    defaults = Sizes()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--tiny", action="store_true", help="aggregen only, tiny sizes, into results/tmp/"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of all suites, interleaved [3]"
    )
    parser.add_argument(
        "--commands", type=int, default=defaults.commands, help="commits, 1 command each"
    )
    parser.add_argument(
        "--batches", type=int, default=defaults.batches, help="commits of --batch events"
    )
    parser.add_argument("--batch", type=int, default=defaults.batch, help="events per commit [100]")
    parser.add_argument(
        "--stream", type=int, default=defaults.stream, help="events rehydrated [1000]"
    )
    parser.add_argument(
        "--big-stream", type=int, default=defaults.big_stream, help="memory workload"
    )
    parser.add_argument(
        "--category",
        type=int,
        default=defaults.category,
        help="events of the category the read-side workloads read [100000]",
    )
    parser.add_argument(
        "--peer-projection",
        type=int,
        default=defaults.peer_projection,
        help="events eventsourcing projects, one transaction each [5000]",
    )
    parser.add_argument(
        "--jetstream-category",
        type=int,
        default=defaults.jetstream_category,
        help="events of the category the JetStream suite's consumers read [100000]",
    )
    parser.add_argument(
        "--repeat", type=int, default=defaults.repeat, help="repetitions per suite run"
    )
    parser.add_argument(
        "--counts", default="10,100,1000", help="aggregates for the generator suite"
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="skip Protean, eventsourcing, the chart"
    )
    parser.add_argument(
        "--slow-peers", action="store_true", help="also Protean's in-memory rehydrate (minutes)"
    )
    parser.add_argument("--no-generator", action="store_true", help="skip the generator suites")
    parser.add_argument("--suites", default="", help="comma-separated subset of suites to run")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="both",
        help="event loops of the async suite: asyncio's own (the targets), uvloop [both]",
    )
    parser.add_argument(
        "--out", type=Path, help="output directory [results/, --tiny: results/tmp/]"
    )
    return parser.parse_args()


def messagedb_uri() -> str:
    """Run scripts/messagedb-setup.sh; it prints the URI on stdout."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "messagedb-setup.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks: MessageDB setup failed (exit {done.returncode})")
    return done.stdout.strip().splitlines()[-1]


def analyze_messages(uri: str) -> None:
    """ANALYZE MessageDB's table, so that query plans fit its size.

    With autovacuum off (as on these machines), statistics taken when the table was
    small would make every `write_message` scan the whole table.
    """
    import psycopg  # the project's dependency; imported here to keep --help fast

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ANALYZE message_store.messages")


def ensure_peers_venv() -> None:
    """Create benchmarks/.venv-peers, or reinstall when requirements-peers.txt changed."""
    stamp = PEERS_VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PEERS_PYTHON.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return
    if not PEERS_PYTHON.exists():
        log(f"benchmarks: creating {PEERS_VENV.relative_to(ROOT)}")
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True)
    log(f"benchmarks: installing {REQUIREMENTS.relative_to(ROOT)} (a few minutes the first time)")
    subprocess.run(
        [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
        check=True,
    )  # fmt: skip
    stamp.write_text(wanted + "\n")


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    module: str
    peers: bool


SUITES = [
    Suite("aggregen", "benchmarks.suite_aggregen", peers=False),
    Suite("raw", "benchmarks.suite_raw", peers=False),
    Suite("paired", "benchmarks.suite_paired", peers=False),
    Suite("async", "benchmarks.suite_async", peers=False),
    Suite("import", "benchmarks.suite_import", peers=False),
    Suite("jetstream", "benchmarks.suite_jetstream", peers=False),
    Suite("protean", "benchmarks.peers.suite_protean", peers=True),
    Suite("eventsourcing", "benchmarks.peers.suite_eventsourcing", peers=True),
]


def run_suite(suite: Suite, config: dict[str, Any]) -> dict[str, Any]:
    python = str(PEERS_PYTHON) if suite.peers else sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-m", suite.module, "--config", json.dumps(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmarks: suite {suite.name} failed (exit {done.returncode})")
    log(f"benchmarks: {suite.name} took {time.perf_counter() - started:.1f} s")
    document: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return document


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def postgres_version(uri: str) -> str:
    done = subprocess.run(
        ["psql", "-X", "-A", "-t", "-d", uri, "-c", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def main() -> None:
    args = parse_args()
    if args.tiny:
        sizes = Sizes.tiny()
        rounds, counts, peers = 1, [10], False
    else:
        sizes = Sizes(
            commands=args.commands,
            batches=args.batches,
            batch=args.batch,
            stream=args.stream,
            big_stream=args.big_stream,
            category=args.category,
            peer_projection=args.peer_projection,
            jetstream_category=args.jetstream_category,
            repeat=args.repeat,
        )
        rounds, counts, peers = (
            args.rounds,
            [int(c) for c in args.counts.split(",") if c],
            not args.no_peers,
        )
    out: Path = args.out or (HERE / "results" / ("tmp" if args.tiny else ""))
    out.mkdir(parents=True, exist_ok=True)
    chosen = set(args.suites.split(",")) if args.suites else None

    uri = messagedb_uri()
    analyze_messages(uri)
    if peers:
        ensure_peers_venv()
    suites = [s for s in SUITES if (peers or not s.peers) and (chosen is None or s.name in chosen)]
    if args.tiny:
        suites = [
            s for s in suites if s.name in ("aggregen", "paired", "async", "import", "jetstream")
        ]
    documents: list[dict[str, Any]] = []
    base: dict[str, Any] = {"uri": uri, "sizes": dataclasses.asdict(sizes), "loop": args.loop}
    if args.tiny:
        base["pairs"] = 3
    with contextlib.ExitStack() as cluster:
        if any(s.name == "jetstream" for s in suites):  # started once for every round
            base["nats_uri"] = cluster.enter_context(running_cluster())
        for round_number in range(rounds):
            shift = round_number % len(suites) if suites else 0
            for suite in suites[shift:] + suites[:shift]:
                log(f"benchmarks: round {round_number + 1}/{rounds}: {suite.name}")
                first = round_number == 0
                config = {**base, "memory": first, "slow_peers": first and args.slow_peers}
                documents.append(run_suite(suite, config))
    if not args.no_generator and (chosen is None or "generator" in chosen):
        generator = Suite("generator", "benchmarks.suite_generator", peers=False)
        documents.append(run_suite(generator, {**base, "counts": counts}))
        if peers:
            datamodel = str(PEERS_VENV / "bin" / "datamodel-codegen")
            config = {**base, "counts": counts, "suite": "datamodel-code-generator",
                      "datamodel_codegen": datamodel}  # fmt: skip
            documents.append(run_suite(generator, config))

    cells = summarize(documents)
    versions: dict[str, str] = {}
    for document in documents:
        for key, version in document["versions"].items():
            if key != "python":
                versions[key] = version
    command = "benchmarks/run.sh" + ("" if len(sys.argv) < 2 else " " + shlex.join(sys.argv[1:]))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {**machine(), "postgresql": postgres_version(uri)},
        "versions": versions,
        "sizes": dataclasses.asdict(sizes),
        "rounds": rounds,
        "cells": [{"key": list(key), **cell} for key, cell in sorted(cells.items())],
    }
    report["targets"] = evaluate_targets(cells)
    (out / "latest.json").write_text(json.dumps(report, indent=1) + "\n")
    markdown = render_markdown(report)
    (out / "latest.md").write_text(markdown)
    if peers and PEERS_PYTHON.exists():
        subprocess.run(
            [str(PEERS_PYTHON), str(HERE / "peers" / "plot.py"), str(out / "latest.json"),
             str(out / "latest.png")],
            check=False,
        )  # fmt: skip
    sys.stdout.write(markdown)
    log(f"benchmarks: wrote {out / 'latest.md'}")


if __name__ == "__main__":
    main()
