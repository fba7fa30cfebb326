"""The generator's stages tied together: load -> validate -> model -> render -> format -> write.

`build` runs every stage but the last and returns the files in memory, so a
failure anywhere leaves the output directory untouched; `generate` then writes
them, `check` compares them with what is on disk. Both refuse schemas that lost or
changed a version recorded in the lock file next to them (`lock.check_lock`).

Both first try the no-change shortcut (`freshness`): when the manifest's
fingerprint of the inputs matches and every generated file still has its hash,
there is nothing to do. The stages are imported when first needed, so that the
shortcut does not pay for importing YAML, JSON Schema, Jinja2 and black.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SchemaErrors
from .freshness import display_path, fingerprint, inputs_digest, unchanged
from .lock import check_lock, default_lock_path, read_lock
from .write import CheckReport, Manifest, WriteReport, compare, recover, sha256, write

if TYPE_CHECKING:
    from .load import SchemaDocument
    from .model import DomainModel
    from .render import RenderedFile

__all__ = ["build", "check", "display_path", "generate", "models"]


def models(paths: Sequence[str | Path], root: Path | None = None) -> tuple[DomainModel, ...]:
    """Load, validate and model the schemas named by `paths`; raises `SchemaErrors`.

    Headers name schema files relative to `root` (see `display_path`).
    """
    from .validate import load_and_validate

    return _models(load_and_validate(paths), root)


def _models(documents: Sequence[SchemaDocument], root: Path | None) -> tuple[DomainModel, ...]:
    from . import model

    return model.build(documents, [display_path(d.path, root) for d in documents])


def _locked_models(
    paths: Sequence[str | Path], root: Path | None, lock_path: str | Path | None
) -> tuple[DomainModel, ...]:
    """`models`, after checking the schemas against the lock file (if there is one)."""
    from .validate import load_and_validate

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
    return _files(_locked_models(paths, root, lock_path))


def _files(domains: tuple[DomainModel, ...]) -> list[RenderedFile]:
    """Stages 4 and 5: render and format."""
    from .format import format_files
    from .render import render

    return format_files(render(domains))


def generate(
    paths: Sequence[str | Path],
    out: str | Path,
    root: Path | None = None,
    *,
    lock_path: str | Path | None = None,
) -> WriteReport:
    """Generate the packages of `paths` into `out`; raises `SchemaErrors`, `OutputError`.

    The report's `unwritten` names hand-written upcasters still to be written; its
    `skipped` says that nothing had changed since the last run (`freshness`).
    """
    out = Path(out)
    recover(out)  # finish what a killed run committed to, first
    inputs = _inputs(paths, out, root, lock_path)
    old = Manifest.read(out)
    if unchanged(out, old, inputs):
        assert old is not None
        return WriteReport(unchanged=tuple(sorted(old.files)), skipped=True)
    from .handwritten import unwritten_upcasters

    domains = _locked_models(paths, root, lock_path)
    files = _files(domains)
    # Upcaster stubs still to write (or about to be created) leave no fingerprint.
    to_create = any(
        aggregate.upcasters
        and not (out / domain.package / f"{aggregate.upcasters_module}.py").exists()
        for domain in domains
        for aggregate in domain.aggregates
    )
    pending = unwritten_upcasters(domains, out)
    recorded = None if pending or to_create else _fingerprint(inputs, out, files)
    report = write(out, files, recorded)
    return dataclasses.replace(report, unwritten=tuple(unwritten_upcasters(domains, out)))


def _inputs(
    paths: Sequence[str | Path], out: Path, root: Path | None, lock_path: str | Path | None
) -> str:
    from .load import discover

    lock = default_lock_path(paths) if lock_path is None else Path(lock_path)
    return inputs_digest(discover(paths), lock, out, root)


def _fingerprint(inputs: str, out: Path, files: Sequence[RenderedFile]) -> str:
    """The fingerprint of `files` once written: hand-written files are kept if present."""
    scaffolds: dict[str, bytes | None] = {}
    for file in files:
        if file.scaffold:
            path = out / file.path
            scaffolds[file.path] = path.read_bytes() if path.is_file() else file.text.encode()
    generated = {f.path: sha256(f.text.encode()) for f in files if not f.scaffold}
    return fingerprint(inputs, scaffolds, generated)


def check(
    paths: Sequence[str | Path],
    out: str | Path,
    root: Path | None = None,
    *,
    lock_path: str | Path | None = None,
) -> CheckReport:
    """How `out` differs from what `generate(paths, out)` would write; nothing is written.

    Hand-written upcasters that are missing or still stubs make it fail too. A run of
    `generate` killed half-way is finished first (`write.recover`).
    """
    recover(Path(out))
    if unchanged(Path(out), Manifest.read(Path(out)), _inputs(paths, Path(out), root, lock_path)):
        return CheckReport()
    from .handwritten import unwritten_upcasters

    domains = _locked_models(paths, root, lock_path)
    report = compare(Path(out), _files(domains))
    return dataclasses.replace(report, unwritten=tuple(unwritten_upcasters(domains, Path(out))))
