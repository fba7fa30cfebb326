"""The atomic switch of the write stage: staging, a write-ahead journal, roll-forward.

`write` brings an output directory from its old files to its new ones in three steps:

1. **stage**: every new or changed file, and the new manifest, is written into a
   staging directory *inside* the output directory (`.aggregen-staging-XXXXXXXX`), so
   that each later move is a rename within one file system;
2. **commit**: a journal naming every move and removal is written into the staging
   directory and renamed to `.aggregen-journal.json` in the output directory. That
   one rename is the commit point;
3. **apply**: files are moved into place (`os.replace`), orphans removed, the
   manifest replaced last; then the journal is removed and the staging deleted.

A process killed before the commit leaves the old output and a staging directory,
which the next run deletes. A process killed after it leaves the journal, which the
next `generate` or `check` rolls forward first (`recover`): every step of `apply` can
be repeated, so a kill during recovery is recovered the same way. Either way the
output is entirely old or entirely new once the next command has started, and
hand-written files are never overwritten (a scaffold is only ever created).

This protects against the process being killed at any moment. Nothing is fsynced:
after an operating system crash or power loss, a file may be torn; `check` then
names it by its hash in the manifest and `generate` rewrites it.

Runs on one output directory take turns: each holds an advisory lock (`flock`) on the
directory while it recovers or writes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aggregen.runtime.errors import AggregenError

__all__ = [
    "JOURNAL",
    "MANIFEST",
    "STAGING_PREFIX",
    "Journal",
    "OutputError",
    "apply",
    "check_relative",
    "commit",
    "locked",
    "read_if_present",
    "recover",
    "stage",
    "staging_directory",
]

MANIFEST = ".aggregen-manifest.json"
JOURNAL = ".aggregen-journal.json"
STAGING_PREFIX = ".aggregen-staging-"


class OutputError(AggregenError):
    """The output directory cannot be written as asked (a foreign file, a bad manifest)."""


def check_relative(name: str, source: Path) -> None:
    """Raise `OutputError` unless `name` is a relative path inside the output directory."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise OutputError(f"{source} names a path outside the output directory: {name!r}")


@dataclass(frozen=True)
class Journal:
    """The moves and removals one `write` committed to, in the order they are applied."""

    staging: str
    """The staging directory's name, inside the output directory."""
    replace: tuple[str, ...] = ()
    """Generated files, moved over whatever is there."""
    create: tuple[str, ...] = ()
    """Hand-written scaffolds, moved in only where no file is (never overwritten)."""
    remove: tuple[str, ...] = ()
    """Files no longer generated."""
    manifest: bool = False
    """Whether the staged manifest replaces the output's (always last)."""

    def to_bytes(self) -> bytes:
        """The journal file's content."""
        data = {
            "generator": "aggregen",
            "journal": 1,
            "staging": self.staging,
            "replace": list(self.replace),
            "create": list(self.create),
            "remove": list(self.remove),
            "manifest": self.manifest,
        }
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def read(cls, out: Path) -> Journal | None:
        """The journal in `out`, None if there is none; raises `OutputError` if unreadable."""
        path = out / JOURNAL
        raw = read_if_present(path)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            staging = data["staging"]
            lists = [data[key] for key in ("replace", "create", "remove")]
            manifest = data["manifest"]
            if not (
                isinstance(staging, str)
                and staging.startswith(STAGING_PREFIX)
                and "/" not in staging
            ):
                raise ValueError("'staging' is not a staging directory's name")
            if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists):
                raise ValueError("a list of paths is not a list of strings")
            if not isinstance(manifest, bool):
                raise ValueError("'manifest' is not true or false")
        except (ValueError, KeyError, TypeError) as error:
            raise OutputError(
                f"{path} is not an aggregen journal ({error}); the output may be half "
                "written: delete it and generate again"
            ) from error
        for name in [name for names in lists for name in names]:
            check_relative(name, path)
        replace, create, remove = (tuple(names) for names in lists)
        return cls(staging, replace, create, remove, manifest)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the exclusive advisory lock of the directory `out` (waits for other runs).

    POSIX only (`flock`); elsewhere runs are not serialized.
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    try:
        descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise OutputError(f"cannot open {out}: {error.strerror or error}") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def staging_directory(out: Path) -> Path:
    """A new, empty staging directory inside `out`; raises `OutputError`."""
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as error:
        raise OutputError(
            f"cannot create a staging directory in {out}: {error.strerror or error}"
        ) from error


def stage(out: Path, staging: Path, name: str, data: bytes) -> None:
    """Write `data` as `name` into `staging`; raises `OutputError` naming `out / name`."""
    target = staging / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as error:
        reason = "file name too long" if error.errno == errno.ENAMETOOLONG else error.strerror
        raise OutputError(f"cannot write {out / name}: {reason or error}") from error


def commit(out: Path, staging: Path, journal: Journal) -> None:
    """Make `journal` the output's journal: the point after which `write` cannot fail back.

    Raises `OutputError`, the output untouched, when a move could not be atomic (a
    directory of the output on another file system than the output itself).
    """
    try:
        _check_one_file_system(out, staging, [*journal.replace, *journal.create])
        (staging / JOURNAL).write_bytes(journal.to_bytes())
        os.replace(staging / JOURNAL, out / JOURNAL)
    except OSError as error:
        raise OutputError(f"cannot write {out / JOURNAL}: {error.strerror or error}") from error


def _check_one_file_system(out: Path, staging: Path, names: Iterable[str]) -> None:
    """Raise `OutputError` if a target directory is not on the staging's file system."""
    device = os.stat(staging).st_dev
    seen: set[Path] = set()
    for name in names:
        directory = (out / name).parent
        while directory not in seen and not directory.exists() and directory != out:
            directory = directory.parent
        if directory in seen:
            continue
        seen.add(directory)
        if os.stat(directory).st_dev != device:
            raise OutputError(
                f"cannot write {directory} atomically: it is on another file system than "
                f"{out} (a mount point or a symlink to elsewhere inside the output "
                "directory), and a file cannot be renamed across file systems; make it a "
                "plain directory of the output"
            )


def apply(out: Path, journal: Journal) -> None:
    """Carry out `journal` in `out`, then remove it and its staging directory.

    Every step can be repeated: `apply` of a journal half carried out finishes it.
    Raises `OutputError` if a step fails; the journal stays for the next run.
    """
    staging = out / journal.staging
    try:
        for name in journal.replace:
            source = staging / name
            if os.path.lexists(source):  # else moved in already
                target = out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        for name in journal.create:
            source = staging / name
            target = out / name
            if not os.path.lexists(source):
                continue
            if os.path.lexists(target):  # written by hand meanwhile: it stays
                source.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        for name in journal.remove:
            (out / name).unlink(missing_ok=True)
        _remove_empty_parents(out, journal.remove)
        if journal.manifest and os.path.lexists(staging / MANIFEST):
            os.replace(staging / MANIFEST, out / MANIFEST)
        (out / JOURNAL).unlink(missing_ok=True)
    except OSError as error:
        raise OutputError(
            f"generating into {out} stopped half-way: {error}; the journal {out / JOURNAL} "
            "lets the next `aggregen generate` or `check` finish it once the cause is fixed"
        ) from error
    shutil.rmtree(staging, ignore_errors=True)


def _remove_empty_parents(out: Path, removed: Iterable[str]) -> None:
    for name in removed:
        directory = (out / name).parent
        while directory != out and directory.is_relative_to(out):
            cache = directory / "__pycache__"
            if cache.is_dir() and len(list(directory.iterdir())) == 1:
                shutil.rmtree(cache, ignore_errors=True)
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent


def _leftovers(out: Path) -> list[Path]:
    """Staging directories in `out`, and those older versions of aggregen left beside it."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        found += [out / n for n in os.listdir(out) if n.startswith(STAGING_PREFIX)]
    with contextlib.suppress(OSError):
        legacy = f".{out.name}.aggregen-"
        found += [
            out.parent / n
            for n in os.listdir(out.parent)
            if n.startswith(legacy) and (out.parent / n).is_dir()
        ]
    return found


def recover(out: Path, *, lock: bool = True) -> bool:
    """Finish what a killed `write` committed to in `out`, and delete leftover staging.

    Returns whether there was anything to do. Cheap when there is nothing (one
    directory listing). `lock=False` when the caller holds `locked(out)` already.
    Raises `OutputError` when a committed journal cannot be carried out.
    """
    if not (out / JOURNAL).exists() and not _leftovers(out):
        return False
    if lock:
        with locked(out):
            return recover(out, lock=False)
    journal = Journal.read(out)
    if journal is not None:
        apply(out, journal)
    for path in _leftovers(out):
        if not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
    return True


def read_if_present(path: Path) -> bytes | None:
    """The bytes of `path`, None if it does not exist; raises `OutputError` if unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise OutputError(f"cannot read {path}: {error.strerror or error}") from error
