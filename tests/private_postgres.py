"""A private PostgreSQL cluster with MessageDB, for tests that stop, start or break the server.

The machine's shared PostgreSQL (127.0.0.1:5432) is never touched: the cluster lives
in a temporary directory, listens on a free port of 127.0.0.1 (and on a socket in its
own directory), and is stopped and removed when the session ends, also after a
failure. MessageDB is installed by the project's own `scripts/messagedb-setup.sh`.

Use the session fixture `private_messagedb`; a test module imports it by name. The
module fixture `private_replica` is a second cluster: a streaming replica of its own
primary (made with `pg_basebackup -R`), each on its own port and data directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "messagedb-setup.sh"
T = TypeVar("T")
SERVER_USER = "postgres"
"""Who runs the server when the tests run as root (PostgreSQL refuses to run as root)."""


def server_binaries() -> Path:
    """The directory of `initdb` and `pg_ctl`: the newest /usr/lib/postgresql/*/bin."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("no PostgreSQL server binaries (pg_ctl) under /usr/lib/postgresql")


_handed_out: set[int] = set()
"""Ports this process gave a cluster already: never given again, even once free."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now, below Linux's ephemeral range.

    Not one the kernel would pick (32768 and up): a client's connection to a stopped
    cluster's port in that range can get the same number as its own local port and
    connect to itself (TCP's simultaneous open), and libpq then reads its own startup
    packet ("server closed the connection unexpectedly") rather than "Connection
    refused". Each xdist worker draws from a range of its own, so two workers never
    start clusters on the same port.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = 20000 + 1500 * (int(worker) % 8 if worker.isdigit() else 0)
    candidates = [port for port in range(first, first + 1500) if port not in _handed_out]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {first} and {first + 1499}")


class PrivateCluster:
    """One PostgreSQL cluster of the tests' own: `start`, `stop`, `restart`, `remove`."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="aggregen-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:  # the server's files must belong to the user that runs it
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/message_store"

    def _run(self, *command: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self.as_root else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
                f"{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\nserver log:\n" + "\n".join(self.log.read_text().splitlines()[-20:])
        return ""

    def init(self) -> None:
        """Make the data directory: trust authentication, superuser `postgres`."""
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
            "-c fsync=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=40"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: end sessions and shut down cleanly; `immediate`: crash)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server process is alive (`pg_ctl status`)."""
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self.as_root else []
        status = subprocess.run(
            [*prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return status.returncode == 0

    def install_messagedb(self) -> None:
        """Install MessageDB with the project's script (it honours PGHOST, PGPORT, PGUSER)."""
        env = {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "MESSAGE_DB_NAME": "message_store",
        }
        env.pop("PGPASSWORD", None)
        env.pop("PGDATABASE", None)
        result = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=300, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{SETUP} exited {result.returncode}:\n{result.stderr}")
        printed = result.stdout.strip().splitlines()[-1]
        if printed != self.uri:
            raise RuntimeError(f"{SETUP} printed {printed!r}, expected {self.uri!r}")

    def replicate(self) -> PrivateCluster:
        """A started streaming replica of this running cluster, in a cluster of its own.

        `pg_basebackup -R` copies the data directory (MessageDB included) and writes the
        standby settings; the replica then replays the primary's WAL as it streams in.
        """
        replica = PrivateCluster()
        try:
            self._run(
                str(self.bin / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-D",
                str(replica.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            )
            replica.start()
        except BaseException:
            replica.remove()
            raise
        return replica

    def remove(self) -> None:
        """Stop the server if it runs (immediately) and delete every file of the cluster."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster with MessageDB; stopped and removed on exit, whatever happens."""
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.install_messagedb()
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def private_primary_and_replica() -> Iterator[tuple[PrivateCluster, PrivateCluster]]:
    """A private primary with MessageDB and its streaming replica; both removed on exit."""
    with private_cluster() as primary:
        replica = primary.replicate()
        try:
            yield primary, replica
        finally:
            replica.remove()


def _started(context: contextlib.AbstractContextManager[T], what: str) -> Iterator[T]:
    """What `context` gives, for a fixture: a test fails (not errors) when it cannot start."""
    try:
        value = context.__enter__()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"{what} could not be started: {error}", pytrace=False)
    try:
        yield value
    finally:
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def private_replica() -> Iterator[tuple[PrivateCluster, PrivateCluster]]:
    """A private primary with MessageDB and its streaming replica, for one test module."""
    yield from _started(private_primary_and_replica(), "the private primary and replica")


@pytest.fixture(scope="session")
def private_messagedb() -> Iterator[PrivateCluster]:
    """A private PostgreSQL with MessageDB for the session; the shared server is left alone."""
    yield from _started(private_cluster(), "the private PostgreSQL cluster")
