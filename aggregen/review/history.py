"""The stored history check that `aggregen check` runs: every locked version still reads.

The lock file holds the wire shape of every released event version, which is all the
STORAGE rules need: `history_findings` runs them against the lock alone, so a change
that strands or reinterprets stored events (an event bumped to a version whose
generated upcaster cannot read the old payloads, say) fails `check` in CI even when
nobody ran `aggregen breaking`. Acceptances in the file next to the lock apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .acceptance import ACCEPTED_FILE_NAME, apply_acceptances, read_accepted
from .compare import find_breaking_changes
from .finding import Finding
from .lock import Lock
from .rules import STORAGE
from .wire_shape import Document

__all__ = ["history_findings"]


def history_findings(documents: Sequence[Document], lock: Lock | None) -> list[Finding]:
    """The STORAGE findings of `documents` against every version in `lock`, acceptances applied.

    The acceptances are read from `aggregen.accepted.toml` beside the lock file.
    Raises `SchemaErrors` for an acceptances file that cannot be read.
    """
    if lock is None:
        return []
    findings = [
        finding
        for finding in find_breaking_changes(None, documents, lock=lock)
        if finding.category == STORAGE
    ]
    accepted = Path(lock.path).parent / ACCEPTED_FILE_NAME
    return apply_acceptances(findings, read_accepted(accepted), accepted.as_posix())
