"""Replacing a file's text all at once: readers and a killed writer never leave it half
written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["replace_text"]


def replace_text(path: Path, text: str, prefix: str) -> None:
    """Write `text` (UTF-8, `\\n` line ends) to `path` through a temporary file named
    `prefix...` beside it, moved into place with one `os.replace`: the file holds its
    old text or the new, never part of it; the temporary file is removed on failure.

    Creates `path`'s directory if needed. Raises `OSError` as the file system does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
