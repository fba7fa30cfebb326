"""`AsyncConnectionPool`: the async MessageDB store's psycopg connections, safe to cancel.

Connections are made when an operation needs one and none is idle, and reused while
they work. A task cancelled while it holds a connection gives it back through
`release(..., healthy=False)`, which closes it at once without awaiting: a
connection whose transaction or pipeline was cut off is never reused. Waiting for a
connection is cancellable and bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from .messagedb_pool import PoolBusy, PoolClosed

__all__ = ["AsyncConnectionPool"]

_IDLE = TransactionStatus.IDLE


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
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._open = 0
        """Connections made or being made, idle or in use."""
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        """A working connection, the caller's until it calls `release`.

        Between two awaits nothing else runs, so the checks and the taking below
        need no lock.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        while True:
            if self._closed:
                raise PoolClosed("the event store is closed")
            while self._idle:
                conn = self._idle.pop()
                if not (conn.closed or conn.broken):
                    return conn
                self._open -= 1
            if self._open < self._max_size:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PoolBusy(
                    f"every one of the {self._max_size} connections stayed in use for "
                    f"{self._timeout:g} s"
                )
            await self._wait(loop, remaining)
        self._open += 1
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    async def _wait(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Wait until `release` wakes this task or `seconds` pass.

        Not `asyncio.wait_for`: on Python 3.11 it returns normally when the task is
        cancelled just after the wake-up, and the cancellation is lost. Here a
        cancellation always raises, and a wake-up that came with it goes on to the
        next waiter, so that no waiter sleeps to its timeout beside an idle connection.
        """
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(seconds, _wake_up, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken, but leaving: the next waiter takes the turn
            raise
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self, conn: psycopg.AsyncConnection[Any], *, healthy: bool) -> None:
        """Give a connection back: kept when `healthy` and idle, else closed at once.

        Never awaits, so it is safe in a `finally` of a cancelled task.
        """
        if (
            healthy
            and not self._closed
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == _IDLE
        ):
            self._idle.append(conn)
        else:
            conn.pgconn.finish()  # no await: the socket closes now
            self._open -= 1
        self._wake()

    def discard_idle(self) -> None:
        """Close every idle connection (after one was found lost: the server restarted)."""
        while self._idle:
            conn = self._idle[-1]  # referenced until closed: a deleted open one would warn
            conn.pgconn.finish()
            self._idle.pop()
            self._open -= 1
        self._wake()

    async def close(self) -> None:
        """Close the idle connections; those in use close when they are given back."""
        self._closed = True
        self.discard_idle()
        for waiter in self._waiters:  # each wakes to find the pool closed
            if not waiter.done():
                waiter.set_result(None)

    def _wake(self) -> None:
        """Let the first waiter look again."""
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return


def _wake_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
