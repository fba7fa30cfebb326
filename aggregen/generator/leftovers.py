"""Hand-written modules left behind: created by `generate`, no longer called by its output.

`generate` creates a hand-written module once and never deletes it. When its
aggregate goes (the aggregate or its domain renamed, its schema replaced or
deleted), or when no event lists `hand_written_upcast` any more, the module stays
on disk with nothing generated importing it: a package that may hold nothing else,
code that imports generated modules which are gone. The manifest keeps naming
such a module (`Manifest.leftovers`) for as long as it exists, so that every later
`generate` and `check`, the no-change shortcut included, warns about it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Leftover", "leftover_modules", "leftovers"]


def leftover_modules(
    out: Path, previous: Iterable[str], generated: Collection[str], scaffolds: Collection[str]
) -> tuple[str, ...]:
    """The hand-written modules named in `previous` still on disk and no longer output.

    `previous` holds the last manifest's hand-written modules and leftovers;
    `generated` and `scaffolds` the files of this run.
    """
    return tuple(
        sorted(
            name
            for name in set(previous)
            if name not in generated and name not in scaffolds and (out / name).is_file()
        )
    )


@dataclass(frozen=True)
class Leftover:
    """A hand-written module left behind, and why: its aggregate is gone, or its upcasts."""

    name: str
    """Its path in the output directory."""
    aggregate_gone: bool

    def warning(self, out: str | Path) -> str:
        """What to tell the user, naming the module as `out/name`."""
        shown = Path(out, self.name).as_posix()
        if self.aggregate_gone:
            return (
                f"{shown} is hand-written and no schema defines its aggregate any more: "
                "move its code or delete it"
            )
        return (
            f"{shown} is hand-written and no event of its aggregate lists "
            "`hand_written_upcast` any more: nothing generated calls it; "
            "move what you still use and delete it"
        )


def leftovers(names: Iterable[str], generated: Collection[str]) -> tuple[Leftover, ...]:
    """The leftovers `names`, given the generated files they are judged against.

    The aggregate of `<package>/<module>_behavior.py` or `_upcasters.py` still
    exists when its base module `<package>/<module>_base.py` is still generated.
    """
    found = []
    for name in names:
        stem = name.removesuffix(".py").rpartition("_")[0]
        found.append(Leftover(name, f"{stem}_base.py" not in generated))
    return tuple(found)
