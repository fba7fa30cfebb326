"""The no-change shortcut: a fingerprint of everything `generate` reads, in the manifest.

`generate` records in the manifest a sha256 over everything its output depends on:
aggregen's version and the bytes of its generator and review modules, templates and
`schema.json`; black's version; the output directory, lock file and schema paths as
named in the output (relative to the project root); every schema file's bytes; the
lock file's bytes (or its absence); every hand-written file's bytes; and the
manifest's own list of files and hashes. A later `generate` or `check` that
computes the same fingerprint, and finds every generated file on disk with its
manifest hash, has proved that running the pipeline would give exactly what is
there, and stops: reading and hashing the files costs milliseconds, the pipeline
seconds. A changed, hand-edited or missing file, a
new schema file, any other change: the full pipeline runs.

A run that leaves hand-written upcasters to write records no fingerprint, so that
the next run reads them again. This module imports nothing heavy (no YAML, Jinja2 or
black) so that the shortcut is fast from the command line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

from .write import Manifest

__all__ = ["display_path", "fingerprint", "inputs_digest", "unchanged"]

_PACKAGE = Path(__file__).resolve().parent.parent


def display_path(path: Path, root: Path | None = None) -> str:
    """How a schema path is named in generated headers, with `/` separators.

    Relative to `root` (default: the working directory) when the file is under it,
    so that the output does not depend on where the project is checked out or
    which directory the command runs in, and `.` and `..` resolved so that every
    spelling of a path names it alike; otherwise as given.
    """
    base = Path(os.path.normpath((root or Path.cwd()).absolute()))
    try:
        return Path(os.path.normpath(path.absolute())).relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class _Digest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, label: str, data: bytes | str | None) -> None:
        """Add a labelled item; None (an absent file) differs from every content."""
        if data is None:
            self._hash.update(b"\0absent\0" + label.encode() + b"\0")
            return
        raw = data.encode() if isinstance(data, str) else data
        self._hash.update(f"\0{label}\0{len(raw)}\0".encode() + raw)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@cache
def _generator_digest() -> str:
    """aggregen's and black's versions, and the bytes of the generator's and review's files."""
    digest = _Digest()
    digest.add("aggregen", _version("aggregen"))
    digest.add("black", _version("black"))
    sources = [
        *sorted((_PACKAGE / "generator").glob("*.py")),
        *sorted((_PACKAGE / "review").glob("*.py")),
        *sorted((_PACKAGE / "templates").glob("*.jinja2")),
        _PACKAGE / "schema.json",
    ]
    for source in sources:
        digest.add(source.relative_to(_PACKAGE).as_posix(), _read(source))
    return digest.hexdigest()


def inputs_digest(schemas: Sequence[Path], lock: Path, out: Path, root: Path | None) -> str:
    """The fingerprint of the generator and of the inputs named (not the hand-written files)."""
    digest = _Digest()
    digest.add("generator", _generator_digest())
    digest.add("out", display_path(out, root))
    digest.add("lock", _read(lock))
    digest.add("lock path", display_path(lock, root))
    # In the order of their names in the output: not the order or spelling given.
    for shown, schema in sorted((display_path(schema, root), schema) for schema in schemas):
        digest.add("schema path", shown)
        digest.add("schema", _read(schema))
    return digest.hexdigest()


def fingerprint(
    inputs: str, scaffolds: Mapping[str, bytes | None], files: Mapping[str, str]
) -> str:
    """The manifest's fingerprint: `inputs_digest`, hand-written files, generated files."""
    digest = _Digest()
    digest.add("inputs", inputs)
    for name in sorted(scaffolds):
        digest.add(f"scaffold {name}", scaffolds[name])
    for name in sorted(files):
        digest.add(f"file {name}", files[name])
    return digest.hexdigest()


def _scaffolds_on_disk(out: Path, names: Iterable[str]) -> dict[str, bytes | None]:
    return {name: _read(out / name) for name in names}


def unchanged(out: Path, manifest: Manifest | None, inputs: str) -> bool:
    """Whether `manifest` records `inputs` and `out` holds exactly its files.

    True proves that generating again would write the same bytes: same inputs, same
    hand-written files, every generated file present with its recorded hash.
    """
    if manifest is None or manifest.inputs is None:
        return False
    scaffolds = _scaffolds_on_disk(out, manifest.scaffolds)
    if any(content is None for content in scaffolds.values()):
        return False
    if fingerprint(inputs, scaffolds, manifest.files) != manifest.inputs:
        return False
    for name, recorded in manifest.files.items():
        content = _read(out / name)
        if content is None or hashlib.sha256(content).hexdigest() != recorded:
            return False
    return True
