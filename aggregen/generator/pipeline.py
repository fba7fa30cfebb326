"""The generator's stages tied together: load -> validate -> model -> render -> format -> write.

`build` runs every stage but the last and returns the files in memory, so a
failure anywhere leaves the output directory untouched; `generate` then writes
them, `check` compares them with what is on disk. Both refuse schemas that lost or
changed a version recorded in the lock file next to them (`lock.check_lock`).

A *partial* run (`partial=True`: the schemas named are some of the project's, as a
pre-commit hook passes the files that changed) touches only the domains of those
schemas: the other domains' generated files are kept as they are and stay in the
manifest, their lock entries are not checked, and `check` compares only the named
domains' files. A full run checks and writes everything.

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

from aggregen.review.lock import check_lock, default_lock_path, read_lock

from .errors import SchemaErrors
from .freshness import display_path, fingerprint, inputs_digest, unchanged
from .write import (
    CheckReport,
    Manifest,
    OutputError,
    WriteReport,
    compare,
    recover,
    sha256,
    write,
)

if TYPE_CHECKING:
    from .load import SchemaDocument
    from .model import DomainModel
    from .render import RenderedFile

__all__ = ["build", "check", "display_path", "generate", "is_partial", "models"]


def models(paths: Sequence[str | Path], root: Path | None = None) -> tuple[DomainModel, ...]:
    """Load, validate and model the schemas named by `paths`; raises `SchemaErrors`.

    Headers name schema files relative to `root` (see `display_path`).
    """
    from .validate import load_and_validate

    return _models(load_and_validate(paths), root)


def _models(documents: Sequence[SchemaDocument], root: Path | None) -> tuple[DomainModel, ...]:
    from . import model

    return model.build(documents, [display_path(d.path, root) for d in documents])


def is_partial(given: Sequence[str | Path], configured: Sequence[str | Path]) -> bool:
    """Whether the schema files `given` are some, not all, of the `configured` ones.

    False when either names no file or a path does not exist (the run reports it).
    """
    if not given or not configured:
        return False
    from .load import discover

    try:
        named = {path.resolve() for path in discover(given)}
        whole = {path.resolve() for path in discover(configured)}
    except (SchemaErrors, OSError):
        return False
    return bool(named) and named < whole


def _locked_models(
    paths: Sequence[str | Path],
    root: Path | None,
    lock_path: str | Path | None,
    partial: bool = False,
) -> tuple[DomainModel, ...]:
    """`models`, after checking the schemas against the lock file (if there is one).

    With `partial`, only the locked domains of the schemas given are checked.
    """
    from .validate import load_and_validate

    documents = load_and_validate(paths)
    lock = read_lock(default_lock_path(paths) if lock_path is None else lock_path)
    if lock is not None and partial:
        lock = lock.only({str(document.data.get("domain")) for document in documents})
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
    partial: bool = False,
    extra: Sequence[RenderedFile] = (),
) -> WriteReport:
    """Generate the packages of `paths` into `out`; raises `SchemaErrors`, `OutputError`.

    The report's `unwritten` names hand-written upcasters still to be written; its
    `leftovers` the hand-written modules nothing generated uses any more; its
    `skipped` says that nothing had changed since the last run (`freshness`). With
    `partial`, only the packages of the domains of `paths` are written or removed.
    `extra` files (such as the distribution's pyproject.toml) are generated as well.
    """
    out = Path(out)
    recover(out)  # finish what a killed run committed to, first
    inputs = _inputs(paths, out, root, lock_path, extra)
    old = Manifest.read(out)
    if not partial and unchanged(out, old, inputs):
        assert old is not None
        return WriteReport(
            unchanged=tuple(sorted(old.files)), leftovers=old.present_leftovers(out), skipped=True
        )
    from .handwritten import unwritten_upcasters

    domains = _locked_models(paths, root, lock_path, partial)
    files = [*_files(domains), *extra]
    # Upcaster stubs still to write (or about to be created) leave no fingerprint.
    to_create = any(
        aggregate.upcasters
        and not (out / domain.package / f"{aggregate.upcasters_module}.py").exists()
        for domain in domains
        for aggregate in domain.aggregates
    )
    pending = unwritten_upcasters(domains, out)
    if partial:
        # The fingerprint would vouch for the other domains too: record none.
        recorded = None
        files = [*files, *_kept(out, old, domains, extra)]
    else:
        recorded = None if pending or to_create else _fingerprint(inputs, out, files)
    report = write(out, files, recorded)
    return dataclasses.replace(report, unwritten=tuple(unwritten_upcasters(domains, out)))


def _kept(
    out: Path,
    manifest: Manifest | None,
    domains: Sequence[DomainModel],
    extra: Sequence[RenderedFile] = (),
) -> list[RenderedFile]:
    """The files of the other domains in the manifest, as they are on disk, to keep them.

    A file missing on disk is left out (a full run writes it again). Raises
    `OutputError` for one that is not UTF-8 text (run a full generate).
    """
    if manifest is None:
        return []
    from .render import RenderedFile

    named = tuple(f"{domain.package}/" for domain in domains)
    written = {file.path for file in extra}
    kept = []
    for names, scaffold in ((manifest.files, False), (manifest.scaffolds, True)):
        for name in sorted(names):
            if name.startswith(named) or name in written:
                continue
            try:
                data = (out / name).read_bytes()
            except FileNotFoundError:
                continue
            try:
                kept.append(RenderedFile(name, data.decode("utf-8"), scaffold))
            except UnicodeDecodeError:
                raise OutputError(
                    f"{out / name} is not UTF-8 text: run generate with all the schemas"
                ) from None
    return kept


def _inputs(
    paths: Sequence[str | Path],
    out: Path,
    root: Path | None,
    lock_path: str | Path | None,
    extra: Sequence[RenderedFile] = (),
) -> str:
    from .load import discover

    lock = default_lock_path(paths) if lock_path is None else Path(lock_path)
    digest = inputs_digest(discover(paths), lock, out, root)
    if not extra:
        return digest
    # The extra files come from settings, not schemas: their text is an input too.
    text = "\0".join(f"{file.path}\0{file.text}" for file in extra)
    return sha256(f"{digest}\0{text}".encode())


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
    partial: bool = False,
    extra: Sequence[RenderedFile] = (),
) -> CheckReport:
    """How `out` differs from what `generate(paths, out)` would write; nothing is written.

    Hand-written upcasters that are missing or still stubs make it fail too; the
    report's `leftovers` (hand-written modules nothing generated uses any more) do
    not. With
    `partial`, only the packages of the domains of `paths` are compared. A run of
    `generate` killed half-way is finished first (`write.recover`).
    """
    out = Path(out)
    recover(out)
    inputs = _inputs(paths, out, root, lock_path, extra)
    recorded = Manifest.read(out)
    if not partial and unchanged(out, recorded, inputs):
        assert recorded is not None
        return CheckReport(leftovers=recorded.present_leftovers(out))
    from .handwritten import unwritten_upcasters

    domains = _locked_models(paths, root, lock_path, partial)
    files = [*_files(domains), *extra]
    unwritten = tuple(unwritten_upcasters(domains, out))
    if not partial:
        return dataclasses.replace(compare(out, files), unwritten=unwritten)
    old = Manifest.read(out)
    report = compare(out, [*files, *_kept(out, old, domains, extra)])
    # The manifest's entries for the named domains only.
    manifest_stale = old is None or any(
        (file.path not in old.scaffolds)
        if file.scaffold
        else old.files.get(file.path) != sha256(file.text.encode())
        for file in files
    )
    return dataclasses.replace(report, manifest_stale=manifest_stale, unwritten=unwritten)
