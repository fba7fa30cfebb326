"""`ConnectionPool`: the MessageDB store's psycopg connections, safe against interrupts.

Connections are made when an operation needs one and none is idle, reused while they
work, and closed as soon as their state is in doubt. Nothing runs in the background:
an operation that starts after the server came back connects to it at once.

A `KeyboardInterrupt` (any `BaseException`) may arrive between any two steps, also
inside this module. The pool's state is kept so that such an interrupt cannot strand
it: every connection stays in one list for its whole life, each with the thread that
holds it. A thread runs one operation at a time, so a connection that a thread still
holds when it asks for another one was left by an interrupted operation; so is one
held by a thread that has ended. Such connections are closed and their places freed.
The pool's lock is a plain `threading.Lock`, whose `with` block an interrupt cannot
leave locked (a `threading.Condition` can: its `__enter__` is Python code, so an
interrupt may arrive after the lock is taken and before the block begins); a thread
that finds every connection held polls instead of waiting on a condition.
"""

from __future__ import annotations

import threading
from time import monotonic, sleep
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

__all__ = ["ConnectionPool", "Lease", "PoolBusy", "PoolClosed"]

_IDLE = TransactionStatus.IDLE


class PoolBusy(Exception):
    """Every connection stayed held by another thread for the whole wait."""


class PoolClosed(Exception):
    """The pool was closed: no more connections are handed out."""


class Lease:
    """One place in the pool: its connection (None while it is being made) and holder."""

    __slots__ = ("conn", "holder")

    def __init__(self, holder: threading.Thread) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.holder: threading.Thread | None = holder


class ConnectionPool:
    """At most `max_size` autocommit connections to `conninfo`, made on demand.

    `acquire` raises `PoolBusy` when all of them stay held for `timeout` seconds,
    `PoolClosed` after `close`, and lets `psycopg.Error` through when no connection
    can be made.
    """

    def __init__(self, conninfo: str, *, max_size: int, timeout: float) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self._conninfo = conninfo
        self._max_size = max_size
        self._timeout = timeout
        self._leases: list[Lease] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def max_size(self) -> int:
        """The most connections open at once."""
        return self._max_size

    def acquire(self) -> Lease:
        """A lease on a working connection, held by the calling thread until `release`."""
        me = threading.current_thread()
        deadline = 0.0
        polls = 0
        while True:
            with self._lock:
                if self._closed:
                    raise PoolClosed("the event store is closed")
                lease = self._take(me)
                if lease is not None:
                    if lease.conn is not None:
                        return lease
                    break  # a new place: connect outside the lock
                if not deadline:
                    deadline = monotonic() + self._timeout
                remaining = deadline - monotonic()
                if remaining <= 0:
                    held = (
                        f"all {self._max_size} database connections"
                        if self._max_size > 1
                        else "the one database connection"
                    )
                    raise PoolBusy(
                        f"{held} stayed in use by other threads for {self._timeout:g} s (max_size)"
                    )
            sleep(min(remaining, 0.01, 0.0005 * 2**polls))  # every connection is held
            polls += 1
        try:
            lease.conn = psycopg.connect(self._conninfo, autocommit=True)
        except BaseException:
            self._forget(lease)
            raise
        return lease

    def _take(self, me: threading.Thread) -> Lease | None:
        """An idle lease, else a new place (no connection yet), else None (lock held)."""
        free = None
        for lease in self._leases:
            holder = lease.holder
            if holder is None:
                if free is None:
                    free = lease
            elif holder is me or not holder.is_alive():
                self._reclaim(me)  # left by an interrupted operation
                return self._take(me)
        if free is not None:
            free.holder = me
            return free
        if len(self._leases) < self._max_size:
            lease = Lease(me)
            self._leases.append(lease)
            return lease
        return None

    def _reclaim(self, me: threading.Thread) -> None:
        """Close the connections that interrupted operations left held (lock held)."""
        for lease in [
            lease
            for lease in self._leases
            if lease.holder is not None and (lease.holder is me or not lease.holder.is_alive())
        ]:
            _close(lease.conn)
            self._leases.remove(lease)

    def release(self, lease: Lease) -> None:
        """Give the connection back: kept when it is idle and healthy, else closed."""
        conn = lease.conn
        if conn is not None and conn.pgconn.transaction_status == _IDLE and not self._closed:
            with self._lock:
                lease.holder = None
        else:
            self._forget(lease)

    def discard(self, lease: Lease) -> None:
        """Close the connection (its state is in doubt) and free its place."""
        self._forget(lease)

    def discard_idle(self) -> None:
        """Close every idle connection: after one was lost, the others likely were too."""
        with self._lock:
            for lease in [lease for lease in self._leases if lease.holder is None]:
                _close(lease.conn)  # first: a connection is never dropped unclosed
                self._leases.remove(lease)

    def _forget(self, lease: Lease) -> None:
        _close(lease.conn)  # first: a connection is never dropped unclosed
        with self._lock:
            if lease in self._leases:
                self._leases.remove(lease)

    def close(self) -> None:
        """Close the idle connections now and the others when they are released."""
        with self._lock:
            self._closed = True
        self.discard_idle()


def _close(conn: psycopg.Connection[Any] | None) -> None:
    if conn is not None:
        conn.close()
