"""Helpers shared by the generator's back-end tests: golden cases, imports, tools."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from aggregen.generator import pipeline
from aggregen.generator.render import RenderedFile

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
PYTHON = sys.executable
UPDATE_VARIABLE = "AGGREGEN_UPDATE_GOLDEN"


def golden_cases() -> list[str]:
    """The names of the golden case directories, sorted."""
    return sorted(p.name for p in GOLDEN.iterdir() if (p / "schema.yaml").is_file())


def updating() -> bool:
    """Whether golden files are to be rewritten instead of compared."""
    return os.environ.get(UPDATE_VARIABLE) == "1"


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run the body with `path` as the working directory."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def build_case(case: str) -> list[RenderedFile]:
    """The files generated for a golden case, its schema named `schema.yaml` as in headers."""
    with working_directory(GOLDEN / case):
        return pipeline.build(["schema.yaml"])


def expected_files(case: str) -> dict[str, str]:
    """The committed expected output of a golden case: relative path -> text."""
    expected = GOLDEN / case / "expected"
    return {
        p.relative_to(expected).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(expected.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def golden_packages() -> list[Path]:
    """Every package directory under the golden cases' expected output."""
    return sorted(
        p for case in golden_cases() for p in (GOLDEN / case / "expected").iterdir() if p.is_dir()
    )


@contextlib.contextmanager
def importable(directory: Path, packages: Sequence[str]) -> Iterator[None]:
    """Put `directory` first on sys.path; forget `packages` before and after."""

    def forget() -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in packages:
                del sys.modules[name]

    forget()
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        forget()


def run_tool(
    arguments: Sequence[str], cwd: Path = ROOT, mypy_path: Sequence[Path] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a command with the repository importable; output captured as text.

    `mypy_path` directories are searched by mypy after the repository.
    """
    search = os.pathsep.join(str(p) for p in (ROOT, *mypy_path))
    env = dict(os.environ, PYTHONPATH=str(ROOT), MYPYPATH=search)
    return subprocess.run(
        list(arguments), cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def ruff_check(paths: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """ruff with this repository's configuration, minus its exclusion of generated code."""
    ruff = Path(PYTHON).with_name("ruff")
    return run_tool(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--config",
            "extend-exclude=[]",
            *map(str, paths),
        ]
    )
