"""The base a change is compared with: a directory, or a git ref read without a checkout."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aggregen.generator.errors import SchemaErrors
from aggregen.runtime.errors import AggregenError

from .lock import LOCK_FILE_NAME, Lock, parse_lock, read_lock

__all__ = ["Against", "AgainstError", "Loader", "load_against"]


class AgainstError(AggregenError):
    """The base to compare with cannot be read: not a directory, or a bad git ref."""


@dataclass(frozen=True)
class Against:
    """The base schemas, the lock file there (if any) and how to name the base."""

    documents: list[Any]
    lock: Lock | None
    label: str


Loader = Callable[[Sequence[str | Path]], list[Any]]


def load_against(
    against: str,
    schema_paths: Sequence[str | Path],
    *,
    loader: Loader,
    lock_path: str | Path | None = None,
    cwd: str | Path | None = None,
) -> Against:
    """Load the base schemas: from directory `against`, else from git ref `against`.

    A git ref is read with `git ls-tree` and `git cat-file` in the repository that
    holds `cwd`: the work tree is never touched. `schema_paths` (relative to `cwd`)
    say which files of the ref to read; the lock file at `lock_path` is read from
    the ref too. `loader` loads and validates files (`load_and_validate`); the base
    documents are shown as `REF:path`. Raises `AgainstError` for an unusable base
    and `SchemaErrors` for invalid base schemas.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    directory = base / against
    if directory.is_dir():
        documents = loader([directory])
        return Against(documents, read_lock(directory / LOCK_FILE_NAME), against)
    top = Path(_git(["rev-parse", "--show-toplevel"], base).decode().strip())
    _git(["rev-parse", "--verify", "--quiet", f"{against}^{{commit}}"], base, against)
    relative = [_inside(top, base / path) for path in schema_paths or ["schemas"]]
    names: set[str] = set()
    for rel in relative:
        listed = _git(["ls-tree", "-r", "-z", "--name-only", against, "--", rel], top)
        for name in listed.decode().split("\0"):
            parts = name.split("/")
            if name.endswith((".yaml", ".yml")) and not any(p.startswith(".") for p in parts):
                names.add(name)
    lock = None
    if lock_path is not None:
        lock_rel = _inside(top, base / lock_path)
        if _git(["ls-tree", "-z", "--name-only", against, "--", lock_rel], top):
            text = _git(["cat-file", "blob", f"{against}:{lock_rel}"], top).decode()
            lock = parse_lock(Path(f"{against}:{_shown(top, base, lock_rel)}"), text)
    with tempfile.TemporaryDirectory(prefix="aggregen-against-") as temporary:
        files = []
        for name in sorted(names):
            target = Path(temporary, *name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git(["cat-file", "blob", f"{against}:{name}"], top))
            files.append(target)
        shown = {str(Path(temporary, *n.split("/"))): _shown(top, base, n) for n in names}
        try:
            documents = loader(files) if files else []
        except SchemaErrors as errors:
            raise SchemaErrors(
                [replace(e, path=f"{against}:{shown.get(e.path, e.path)}") for e in errors.errors]
            ) from None
        documents = [
            replace(d, path=Path(f"{against}:{shown.get(str(d.path), d.path)}")) for d in documents
        ]
    return Against(documents, lock, against)


def _inside(top: Path, path: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(top.resolve()).as_posix() or "."
    except ValueError:
        try:
            return absolute.resolve().relative_to(top.resolve()).as_posix() or "."
        except ValueError:
            raise AgainstError(f"{path} is not inside the git repository {top}") from None


def _shown(top: Path, base: Path, name: str) -> str:
    """A path of the repository as the user sees it: relative to the working directory."""
    return Path(os.path.relpath(top / name, base.resolve())).as_posix()


def _git(arguments: list[str], cwd: Path, ref: str | None = None) -> bytes:
    try:
        result = subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgainstError(f"cannot run git: {exc}") from exc
    if result.returncode != 0:
        if ref is not None:
            raise AgainstError(f"{ref!r} is neither a directory nor a git commit")
        detail = result.stderr.decode(errors="replace").strip()
        raise AgainstError(f"git {arguments[0]} failed: {detail}")
    return result.stdout
