"""The generator's stages tied together: load -> validate -> model -> render -> format -> write.

`build` runs every stage but the last and returns the files in memory, so a
failure anywhere leaves the output directory untouched; `generate` then writes
them, `check` compares them with what is on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import model
from .format import format_files
from .render import RenderedFile, render
from .validate import load_and_validate
from .write import CheckReport, WriteReport, compare, write

__all__ = ["build", "check", "display_path", "generate", "models"]


def display_path(path: Path, root: Path | None = None) -> str:
    """How a schema path is named in generated headers, with `/` separators.

    Relative to `root` (default: the working directory) when the file is under it,
    so that the output does not depend on where the project is checked out or
    which directory the command runs in; otherwise as given.
    """
    base = (root or Path.cwd()).absolute()
    try:
        return path.absolute().relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def models(paths: Sequence[str | Path], root: Path | None = None) -> tuple[model.DomainModel, ...]:
    """Load, validate and model the schemas named by `paths`; raises `SchemaErrors`.

    Headers name schema files relative to `root` (see `display_path`).
    """
    documents = load_and_validate(paths)
    return model.build(documents, [display_path(d.path, root) for d in documents])


def build(paths: Sequence[str | Path], root: Path | None = None) -> list[RenderedFile]:
    """Every file `generate` writes for `paths`, formatted, in path order.

    Raises `SchemaErrors` listing every problem of every schema.
    """
    return format_files(render(models(paths, root)))


def generate(paths: Sequence[str | Path], out: str | Path, root: Path | None = None) -> WriteReport:
    """Generate the packages of `paths` into `out`; raises `SchemaErrors`, `OutputError`."""
    return write(Path(out), build(paths, root))


def check(paths: Sequence[str | Path], out: str | Path, root: Path | None = None) -> CheckReport:
    """How `out` differs from what `generate(paths, out)` would write; nothing is written."""
    return compare(Path(out), build(paths, root))
