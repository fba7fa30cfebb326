"""The generator's stages tied together: load -> validate -> model -> render -> format -> write.

`build` runs every stage but the last and returns the files in memory, so a
failure anywhere leaves the output directory untouched; `generate` then writes
them, `check` compares them with what is on disk. Both refuse schemas that lost or
changed a version recorded in the lock file next to them (`lock.check_lock`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from . import model
from .errors import SchemaErrors
from .format import format_files
from .handwritten import unwritten_upcasters
from .load import SchemaDocument
from .lock import check_lock, default_lock_path, read_lock
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
    return _models(load_and_validate(paths), root)


def _models(
    documents: Sequence[SchemaDocument], root: Path | None
) -> tuple[model.DomainModel, ...]:
    return model.build(documents, [display_path(d.path, root) for d in documents])


def _locked_models(
    paths: Sequence[str | Path], root: Path | None, lock_path: str | Path | None
) -> tuple[model.DomainModel, ...]:
    """`models`, after checking the schemas against the lock file (if there is one)."""
    documents = load_and_validate(paths)
    lock = read_lock(default_lock_path(paths) if lock_path is None else lock_path)
    if lock is not None:
        errors = check_lock(documents, lock)
        if errors:
            raise SchemaErrors(errors)
    return _models(documents, root)


def build(
    paths: Sequence[str | Path], root: Path | None = None, *, lock_path: str | Path | None = None
) -> list[RenderedFile]:
    """Every file `generate` writes for `paths`, formatted, in path order.

    `lock_path` defaults to `aggregen.lock.json` next to the schemas; a missing lock
    file checks nothing. Raises `SchemaErrors` listing every problem of every
    schema, or every locked version missing or changed in place.
    """
    return format_files(render(_locked_models(paths, root, lock_path)))


def generate(
    paths: Sequence[str | Path],
    out: str | Path,
    root: Path | None = None,
    *,
    lock_path: str | Path | None = None,
) -> WriteReport:
    """Generate the packages of `paths` into `out`; raises `SchemaErrors`, `OutputError`.

    The report's `unwritten` names hand-written upcasters still to be written.
    """
    domains = _locked_models(paths, root, lock_path)
    report = write(Path(out), format_files(render(domains)))
    return dataclasses.replace(report, unwritten=tuple(unwritten_upcasters(domains, Path(out))))


def check(
    paths: Sequence[str | Path],
    out: str | Path,
    root: Path | None = None,
    *,
    lock_path: str | Path | None = None,
) -> CheckReport:
    """How `out` differs from what `generate(paths, out)` would write; nothing is written.

    Hand-written upcasters that are missing or still stubs make it fail too.
    """
    domains = _locked_models(paths, root, lock_path)
    report = compare(Path(out), format_files(render(domains)))
    return dataclasses.replace(report, unwritten=tuple(unwritten_upcasters(domains, Path(out))))
