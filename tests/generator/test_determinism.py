"""Deterministic output: the same schemas give the same bytes, whatever their order."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from aggregen.generator import pipeline

from .support import GOLDEN, PYTHON, ROOT, golden_cases, ruff_check, run_tool, working_directory


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _schemas(tmp_path: Path) -> list[str]:
    directory = tmp_path / "schemas"
    directory.mkdir()
    for schema in sorted((ROOT / "schemas").glob("*.yaml")):
        shutil.copy(schema, directory / schema.name)
    for case in golden_cases():
        shutil.copy(GOLDEN / case / "schema.yaml", directory / f"{case}.yaml")
    return [f"schemas/{p.name}" for p in sorted(directory.iterdir())]


def test_shuffled_input_and_repeated_runs_give_byte_equal_output(tmp_path: Path) -> None:
    with working_directory(tmp_path):
        names = _schemas(tmp_path)
        trees = []
        for seed in (1, 2):
            order = list(names)
            random.Random(seed).shuffle(order)
            pipeline.generate(order, f"out{seed}")
            trees.append(_tree(tmp_path / f"out{seed}"))
        assert pipeline.generate(["schemas"], "out1").written == ()
    assert trees[0] == trees[1]
    assert trees[0] == _tree(tmp_path / "out1")
    assert len(trees[0]) > 20


def test_generated_output_is_ruff_clean() -> None:
    roots = [ROOT / "generated", *(GOLDEN / case / "expected" for case in golden_cases())]
    result = ruff_check(roots)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_generated_directory_is_fresh() -> None:
    result = run_tool([PYTHON, "-m", "aggregen", "check"])
    assert result.returncode == 0, (
        result.stdout + result.stderr + "\nTo fix it run: .venv/bin/aggregen generate"
    )
