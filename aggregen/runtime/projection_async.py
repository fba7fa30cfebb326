"""Async exactly-once projections: the protocols an async projection works through.

The async twin of `projection`: an `AsyncProjection` handles each message with an
`AsyncSession`, a connection inside the projection's transaction whose `execute` is
awaited (psycopg's `AsyncConnection` is one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .message import RecordedMessage

__all__ = ["AsyncCursor", "AsyncProjection", "AsyncSession"]


class AsyncCursor(Protocol):
    """What an async session's `execute` returns: rows to fetch, awaited."""

    async def fetchone(self) -> Any:
        """The next row, or None."""

    async def fetchall(self) -> list[Any]:
        """Every remaining row."""


class AsyncSession(Protocol):
    """A connection inside the projection's transaction: await SQL with `%s` placeholders."""

    async def execute(
        self, query: Any, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> AsyncCursor:
        """Run one statement with its parameters bound (never format values into SQL).

        Placeholders are psycopg's: `%s` with a sequence, `%(name)s` with a mapping.
        """


class AsyncProjection(Protocol):
    """Applies messages to a read model through the async session it is given."""

    async def handle(self, message: RecordedMessage, session: AsyncSession) -> None:
        """Apply one message; raising rolls back the whole batch."""
