"""Stage 5, format: Python output through black, checked to be black-stable.

Files that are not Python (`py.typed`) pass unchanged.
"""

from __future__ import annotations

import black
from black.mode import TargetVersion

from aggregen.runtime.errors import AggregenError

from .render import RenderedFile

__all__ = ["FormatError", "format_file", "format_files", "format_source"]

MODE = black.Mode(target_versions={TargetVersion.PY311}, line_length=88)


class FormatError(AggregenError):
    """Generated code could not be formatted: a bug in aggregen, never in a schema."""


def format_source(source: str, name: str = "<generated>") -> str:
    """`source` formatted by black; raises `FormatError` if black rejects it or is unstable."""
    try:
        formatted = black.format_str(source, mode=MODE)
        again = black.format_str(formatted, mode=MODE)
    except Exception as error:  # black raises several unrelated exception types
        raise FormatError(f"aggregen generated invalid Python in {name}: {error}") from error
    if again != formatted:
        raise FormatError(f"black is not stable on the generated {name}")
    return formatted


def format_file(file: RenderedFile) -> RenderedFile:
    """`file` with its text formatted, if it is Python."""
    if not file.path.endswith(".py"):
        return file
    return RenderedFile(file.path, format_source(file.text, file.path), file.scaffold)


def format_files(files: list[RenderedFile]) -> list[RenderedFile]:
    """Every file formatted, order kept."""
    return [format_file(f) for f in files]
