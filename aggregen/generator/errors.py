"""Errors of the generator front end: one `SchemaError` per problem, many per raise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aggregen.runtime.errors import AggregenError

__all__ = ["SchemaError", "SchemaErrors"]


@dataclass(frozen=True, order=True)
class SchemaError:
    """One problem in a schema file, at a 1-based line and column.

    Errors sort by path, then position, then message, which is the order they are
    reported in.
    """

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class SchemaErrors(AggregenError):
    """Schema files cannot be used; `errors` lists every problem found, sorted.

    `str()` gives one `path:line:col: message` line per error.
    """

    def __init__(self, errors: Sequence[SchemaError]) -> None:
        self.errors: tuple[SchemaError, ...] = tuple(sorted(set(errors)))
        super().__init__("\n".join(str(error) for error in self.errors))
