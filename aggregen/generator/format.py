"""Stage 5, format: Python output made black-formatted, through black only when needed.

The templates and `layout` already write code as black formats it, so most files
pass unchanged. `needs_black` is a cheap, conservative check for what they cannot
promise (a line still too long, trailing whitespace, a triple quote outside a
docstring); only such files go through black, in two worker processes when there
are many of them, and of those usually only the statements on the lines flagged
(`statements.format_statements`). The tests prove the result black-stable on every
golden file, and equal to black's on the whole file on a large set of generated
schemas.

Files that are not Python (`py.typed`) pass unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from aggregen.runtime.errors import AggregenError

from .layout import LINE_LENGTH
from .render import RenderedFile
from .statements import format_statements

__all__ = [
    "FormatError",
    "flagged_lines",
    "format_file",
    "format_files",
    "format_source",
    "needs_black",
]

PARALLEL_AT = 16
"""Files needing black from which formatting runs in worker processes."""

WORKERS = 2


class FormatError(AggregenError):
    """Generated code could not be formatted: a bug in aggregen, never in a schema."""


def format_source(source: str, name: str = "<generated>") -> str:
    """`source` formatted by black (line length 88); raises `FormatError` if black rejects it."""
    import black  # imported here: most runs never need it
    from black.mode import TargetVersion

    mode = black.Mode(target_versions={TargetVersion.PY311}, line_length=LINE_LENGTH)
    try:
        return black.format_str(source, mode=mode)
    except Exception as error:  # black raises several unrelated exception types
        raise FormatError(f"aggregen generated invalid Python in {name}: {error}") from error


def _too_wide(line: str) -> bool:
    if line.isascii():
        return len(line) > LINE_LENGTH
    return 2 * len(line) > LINE_LENGTH  # black counts wide characters twice


def needs_black(text: str) -> bool:
    """Whether black might change `text`; False only for shapes known to be black's.

    True for: a code line wider than 88 columns (comments and docstrings, which black
    never splits, may be wider), trailing whitespace, a missing or doubled final
    newline, and `\"\"\"` anywhere but at the start and end of a docstring.
    """
    return flagged_lines(text) != []


def flagged_lines(text: str) -> list[int] | None:
    """The numbers (from 0) of the code lines too wide for black's taste, in order.

    Code lines holding `\"\"\"` are flagged too. `None` when black may change the
    file elsewhere than in such lines: trailing whitespace, a missing or doubled
    final newline, a docstring's `\"\"\"` out of place (see `needs_black`); black
    must then format the whole file.
    """
    if not text.endswith("\n") or text.endswith("\n\n"):
        return None
    flagged: list[int] = []
    in_docstring = False
    for number, line in enumerate(text[:-1].split("\n")):
        if line != line.rstrip():
            return None
        quotes = line.count('"""')
        if in_docstring:
            if quotes > 1 or (quotes == 1 and not line.endswith('"""')):
                return None
            in_docstring = quotes == 0
            continue
        code = line.lstrip(" ")
        if quotes and code.startswith('"""'):
            if quotes > 2 or (quotes == 2 and not code.endswith('"""')):
                return None
            in_docstring = quotes == 1
            continue
        if code.startswith("#"):
            continue
        if quotes or _too_wide(line):
            # Triple quotes inside a code line: in a one-line string literal, which
            # `format_statements` checks, and black decides about the statement.
            flagged.append(number)
    return None if in_docstring else flagged


def format_file(file: RenderedFile) -> RenderedFile:
    """`file` with its text formatted, if it is Python and might need it.

    Only the statements on flagged lines go through black when that is enough
    (`statements.format_statements`), else the whole file; raises `FormatError`.
    """
    if not file.path.endswith(".py"):
        return file
    flagged = flagged_lines(file.text)
    if flagged == []:
        return file
    text = None if flagged is None else format_statements(file.text, flagged, format_source)
    if text is None:
        text = format_source(file.text, file.path)
    return RenderedFile(file.path, text, file.scaffold)


def _format_all(files: Sequence[RenderedFile]) -> list[RenderedFile]:
    if len(files) < PARALLEL_AT or (os.cpu_count() or 1) < 2:
        return [format_file(f) for f in files]
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(format_file, files, chunksize=max(1, len(files) // (4 * WORKERS))))


def format_files(files: list[RenderedFile]) -> list[RenderedFile]:
    """Every file formatted, order kept."""
    pending = [
        index for index, f in enumerate(files) if f.path.endswith(".py") and needs_black(f.text)
    ]
    result = list(files)
    for index, formatted in zip(pending, _format_all([files[i] for i in pending]), strict=True):
        result[index] = formatted
    return result
