"""`UnitOfWork`: aggregates added inside a `with` block are stored together, or not at all."""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from .store import AsyncEventStore, EventStore

if TYPE_CHECKING:
    from .aggregate import Aggregate

__all__ = ["AsyncUnitOfWork", "UnitOfWork", "active_unit_of_work"]

_active: ContextVar[tuple[UnitOfWork, ...]] = ContextVar("aggregen_units_of_work", default=())


def active_unit_of_work(store: EventStore | AsyncEventStore) -> UnitOfWork | None:
    """The innermost open unit of work on `store` in this context (thread, task), if any.

    A unit without its token had its `__enter__` interrupted (a KeyboardInterrupt
    between recording the unit and keeping the token): its block never ran, so it
    is skipped rather than left to refuse every later `add`.
    """
    for unit in reversed(_active.get()):
        if unit.store is store and unit._token is not None:
            return unit
    return None


class UnitOfWork:
    """Collects the aggregates that repositories `add` inside `with UnitOfWork(store):`.

    When the block ends normally, all their pending events are written in one atomic
    append (one database transaction on MessageDB). When the block raises, or the
    commit fails, nothing is stored and each aggregate keeps its version and its
    pending events; the unit of work is closed either way and leaves nothing behind.
    A unit of work is used once.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._entries: dict[int, tuple[Any, Aggregate]] = {}
        self._token: Token[tuple[UnitOfWork, ...]] | None = None
        self._used = False

    def __enter__(self) -> UnitOfWork:
        if self._used:
            raise RuntimeError("a UnitOfWork is used once; create a new one")
        self._used = True
        self._token = _active.set((*_active.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entries = self._close()
        if exc_type is None:
            from .repository import commit

            commit(self.store, entries)

    def _close(self) -> list[tuple[Any, Aggregate]]:
        """Leave the context and hand over what was added, once."""
        assert self._token is not None
        _active.reset(self._token)
        self._token = None
        entries = list(self._entries.values())
        self._entries.clear()
        return entries

    def register(self, repository: Any, aggregate: Aggregate) -> None:
        """Keep `aggregate` for the commit at the end of the block (once, however often added)."""
        if self._token is None:
            raise RuntimeError("this UnitOfWork is not open")
        self._entries[id(aggregate)] = (repository, aggregate)


class AsyncUnitOfWork(UnitOfWork):
    """`UnitOfWork` for asyncio: `async with AsyncUnitOfWork(store):` on an async store.

    Aggregates that `AsyncRepository.add` inside the block are stored in one atomic
    append when it ends normally; when it raises, or the commit fails, nothing is
    stored and each aggregate keeps its version and pending events. Each task has
    its own open units (a context variable), as each thread has for `UnitOfWork`.
    """

    def __init__(self, store: AsyncEventStore) -> None:
        super().__init__(cast("EventStore", store))  # kept to find the unit by its store
        self.async_store = store

    async def __aenter__(self) -> AsyncUnitOfWork:
        self.__enter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entries = self._close()
        if exc_type is None:
            from .repository_async import commit_async

            await commit_async(self.async_store, entries)
