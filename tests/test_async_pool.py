"""The async store's connection pool on a real PostgreSQL: tasks that wait for a
connection get one in the order they came, and a waiter that leaves (timed out,
cancelled, closed) strands neither a connection nor a place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import pytest

from aggregen.runtime.messagedb_async_pool import AsyncConnectionPool
from aggregen.runtime.messagedb_pool import PoolBusy, PoolClosed

pytestmark = pytest.mark.messagedb

Conn = psycopg.AsyncConnection[Any]
Scenario = Callable[[str], Coroutine[Any, Any, None]]
Run = Callable[[Scenario], None]


@pytest.fixture
def run(messagedb_uri: str) -> Run:
    """Run a scenario, given the database's URI, in an event loop of its own."""

    def run(scenario: Scenario) -> None:
        asyncio.run(scenario(messagedb_uri))

    return run


async def settle() -> None:
    """Let every task that can run, run (no I/O is pending in these steps)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def take_and_give_back(pool: AsyncConnectionPool, name: str, order: list[str]) -> Conn:
    conn = await pool.acquire()
    order.append(name)
    pool.release(conn, healthy=True)
    return conn


def test_waiting_tasks_get_the_connection_first_come_first_served(run: Run) -> None:
    async def scenario(uri: str) -> None:
        pool = AsyncConnectionPool(uri, max_size=1, timeout=30)
        held = await pool.acquire()
        order: list[str] = []
        first = asyncio.create_task(take_and_give_back(pool, "first", order))
        await settle()
        second = asyncio.create_task(take_and_give_back(pool, "second", order))
        await settle()
        pool.release(held, healthy=True)
        # The releasing task asks again at once, as a task looping over commands
        # does: it queues behind the two that waited instead of taking the
        # connection it just gave back.
        again = await take_and_give_back(pool, "releaser", order)
        assert order == ["first", "second", "releaser"]
        assert await first is held
        assert await second is held
        assert again is held
        await pool.close()

    run(scenario)


def test_a_waiter_that_times_out_strands_nothing(run: Run) -> None:
    async def scenario(uri: str) -> None:
        pool = AsyncConnectionPool(uri, max_size=1, timeout=0.05)
        held = await pool.acquire()
        with pytest.raises(PoolBusy, match="every one of the 1 connections stayed in use"):
            await pool.acquire()
        pool.release(held, healthy=True)
        assert await pool.acquire() is held
        pool.release(held, healthy=True)
        await pool.close()

    run(scenario)


def test_a_waiter_cancelled_as_it_is_handed_the_connection_passes_it_on(run: Run) -> None:
    async def scenario(uri: str) -> None:
        pool = AsyncConnectionPool(uri, max_size=1, timeout=30)
        held = await pool.acquire()
        order: list[str] = []
        cancelled = asyncio.create_task(take_and_give_back(pool, "cancelled", order))
        await settle()
        waiting = asyncio.create_task(take_and_give_back(pool, "waiting", order))
        await settle()
        pool.release(held, healthy=True)  # handed to `cancelled`, which has not run yet
        cancelled.cancel()
        await settle()
        assert cancelled.cancelled()
        assert waiting.done()
        assert order == ["waiting"]
        assert waiting.result() is held
        assert await pool.acquire() is held  # still the one connection: no place lost
        pool.release(held, healthy=True)
        await pool.close()

    run(scenario)


def test_a_closed_connection_s_place_goes_to_the_first_waiter(run: Run) -> None:
    async def scenario(uri: str) -> None:
        pool = AsyncConnectionPool(uri, max_size=1, timeout=30)
        held = await pool.acquire()
        order: list[str] = []
        waiting = asyncio.create_task(take_and_give_back(pool, "waiting", order))
        await settle()
        pool.release(held, healthy=False)
        assert held.closed
        fresh = await waiting
        assert fresh is not held
        assert not fresh.closed
        await pool.close()
        assert fresh.closed

    run(scenario)


def test_closing_the_pool_tells_the_waiters(run: Run) -> None:
    async def scenario(uri: str) -> None:
        pool = AsyncConnectionPool(uri, max_size=1, timeout=30)
        held = await pool.acquire()
        waiting = asyncio.create_task(pool.acquire())
        await settle()
        await pool.close()
        with pytest.raises(PoolClosed):
            await waiting
        pool.release(held, healthy=True)
        assert held.closed
        with pytest.raises(PoolClosed):
            await pool.acquire()

    run(scenario)
