"""The 3-node JetStream cluster of `scripts/nats-cluster.sh`, for the benchmarks.

Standard library only. `running_cluster()` gives the cluster's URI: a cluster that
already runs is used as it is, else it is started and stopped again (its data kept)
when the block ends.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .common import log

__all__ = ["running_cluster"]

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "nats-cluster.sh"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def running_cluster() -> Iterator[str]:
    """The URI of a running cluster; one started here is stopped on exit.

    Raises `SystemExit` when the cluster cannot be started.
    """
    status = _script("status")
    if status.returncode == 0:
        yield status.stdout.strip().splitlines()[-1]
        return
    started = _script("start")
    if started.returncode != 0:
        raise SystemExit(f"benchmarks: nats-cluster.sh start failed: {started.stderr.strip()}")
    log("benchmarks: started the JetStream cluster (scripts/nats-cluster.sh)")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        _script("stop")
        log("benchmarks: stopped the JetStream cluster it started")
