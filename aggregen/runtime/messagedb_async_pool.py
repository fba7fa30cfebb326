"""`AsyncConnectionPool`: the async MessageDB store's psycopg connections, safe to cancel.

Connections are made when an operation needs one and none is idle, and reused while
they work. A task cancelled while it holds a connection gives it back through
`release(..., healthy=False)`, which closes it at once without awaiting: a
connection whose transaction or pipeline was cut off is never reused. Waiting for a
connection is cancellable and bounded by `timeout`.

Tasks that find every connection in use wait in line, first come first served: a
connection given back goes straight to the first waiting task (or, when it was
closed, its place does: the task then makes a new connection). A task that would
take an idle connection without waiting never overtakes one that waits, so under
load no task waits out its `timeout` while others get connection after connection.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from .messagedb_pool import PoolBusy, PoolClosed

__all__ = ["AsyncConnectionPool"]

_IDLE = TransactionStatus.IDLE

_Conn = psycopg.AsyncConnection[Any]
_Waiter = asyncio.Future["_Conn | None"]
"""A waiting task's future: a connection handed over, or None for a free place."""


class AsyncConnectionPool:
    """At most `max_size` autocommit async connections to `conninfo`, made on demand.

    `acquire` raises `PoolBusy` when all of them stay in use for `timeout` seconds,
    `PoolClosed` after `close`, and lets `psycopg.Error` through when no connection
    can be made. Use it from one event loop at a time.
    """

    def __init__(self, conninfo: str, *, max_size: int, timeout: float) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self._conninfo = conninfo
        self._max_size = max_size
        self._timeout = timeout
        self._idle: list[_Conn] = []
        self._open = 0
        """Places taken: connections made or being made, idle, in use or handed over."""
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._closed = False

    async def acquire(self) -> _Conn:
        """A working connection, the caller's until it calls `release`.

        Between two awaits nothing else runs, so the checks and the taking below
        need no lock.
        """
        if self._closed:
            raise PoolClosed("the event store is closed")
        if not self._waiters:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:  # a broken connection is closed too
                    return conn
                self._open -= 1
            if self._open < self._max_size:
                self._open += 1
                return await self._connect()
        handed = await self._wait()
        if self._closed:  # closed after this task was handed a connection or a place
            if handed is not None:
                handed.pgconn.finish()
            self._pass_on(None)
            raise PoolClosed("the event store is closed")
        return handed if handed is not None else await self._connect()

    async def _wait(self) -> _Conn | None:
        """Wait in line for a connection, or for a free place (None)."""
        loop = asyncio.get_running_loop()
        waiter: _Waiter = loop.create_future()
        timer = loop.call_later(self._timeout, self._expire, waiter)
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:  # timed out, closed or cancelled
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._pass_on(waiter.result())  # handed over as this task was cancelled
            raise
        finally:
            timer.cancel()

    def _expire(self, waiter: _Waiter) -> None:
        if not waiter.done():
            waiter.set_exception(
                PoolBusy(
                    f"every one of the {self._max_size} connections stayed in use for "
                    f"{self._timeout:g} s"
                )
            )

    async def _connect(self) -> _Conn:
        """A new connection in a place already taken; the place is freed if none is made."""
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except BaseException:
            self._pass_on(None)
            raise

    def release(self, conn: _Conn, *, healthy: bool) -> None:
        """Give a connection back: kept when `healthy` and idle, else closed at once.

        A kept connection goes to the first waiting task, else to the idle ones; a
        closed one's place goes to the first waiting task, else is freed. Never
        awaits, so it is safe in a `finally` of a cancelled task.
        """
        # libpq reports a closed or broken connection's transaction status as UNKNOWN,
        # never IDLE; asked of `pgconn`, the check makes no `ConnectionInfo` per release.
        if healthy and not self._closed and conn.pgconn.transaction_status == _IDLE:
            self._pass_on(conn)
        else:
            conn.pgconn.finish()  # no await: the socket closes now
            self._pass_on(None)

    def _pass_on(self, conn: _Conn | None) -> None:
        """Hand a connection, or a place (None), to the first waiting task, else keep it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            self._open -= 1
        elif self._closed:
            conn.pgconn.finish()
            self._open -= 1
        else:
            self._idle.append(conn)

    def discard_idle(self) -> None:
        """Close every idle connection (after one was found lost: the server restarted)."""
        while self._idle:
            conn = self._idle[-1]  # referenced until closed: a deleted open one would warn
            conn.pgconn.finish()
            self._idle.pop()
            self._pass_on(None)

    async def close(self) -> None:
        """Close the idle connections; those in use close when they are given back."""
        self._closed = True
        while self._waiters:  # each learns that the pool is closed
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the event store is closed"))
        self.discard_idle()
