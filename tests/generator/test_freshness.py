"""The no-change shortcut: skipped only when inputs and outputs provably match."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregen.generator import freshness, pipeline
from aggregen.generator.validate import load_and_validate
from aggregen.generator.write import MANIFEST, WriteReport
from aggregen.review.lock import update_lock

from .support import GOLDEN, working_directory


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    shutil.copy(GOLDEN / "users" / "schema.yaml", tmp_path / "schema.yaml")
    with working_directory(tmp_path):
        yield tmp_path


def generate() -> WriteReport:
    return pipeline.generate(["schema.yaml"], "out")


def test_a_second_run_with_nothing_changed_is_skipped(project: Path) -> None:
    first = generate()
    assert not first.skipped
    assert first.written
    second = generate()
    assert second.skipped
    assert second.unchanged == first.written
    assert second.written == ()
    assert pipeline.check(["schema.yaml"], "out").ok


def test_the_manifest_records_the_fingerprint(project: Path) -> None:
    generate()
    manifest = json.loads((project / "out" / MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["inputs"]) == 64


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_a_hand_edited_or_missing_output_is_generated_again(project: Path, damage: str) -> None:
    generate()
    target = project / "out" / "users" / "user_base.py"
    expected = target.read_bytes()
    if damage == "edit":
        target.write_bytes(expected + b"# edited\n")
    else:
        target.unlink()
    check = pipeline.check(["schema.yaml"], "out")
    assert not check.ok
    assert (check.hand_edited if damage == "edit" else check.missing) == ("users/user_base.py",)
    report = generate()
    assert not report.skipped
    assert report.written == ("users/user_base.py",)
    assert target.read_bytes() == expected
    assert generate().skipped


def test_a_deleted_hand_written_file_is_created_again(project: Path) -> None:
    generate()
    behavior = project / "out" / "users" / "user_behavior.py"
    behavior.unlink()
    report = generate()
    assert not report.skipped
    assert report.scaffolds_created == ("users/user_behavior.py",)


def test_an_edited_hand_written_file_does_not_change_the_output(project: Path) -> None:
    generate()
    behavior = project / "out" / "users" / "user_behavior.py"
    behavior.write_text(behavior.read_text(encoding="utf-8") + "\n# mine\n", encoding="utf-8")
    report = generate()
    assert not report.skipped
    assert report.written == ()
    assert generate().skipped


def test_a_schema_change_runs_the_pipeline(project: Path) -> None:
    generate()
    schema = project / "schema.yaml"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    report = generate()
    assert not report.skipped
    assert generate().skipped


def test_a_new_schema_file_runs_the_pipeline(project: Path) -> None:
    (project / "schemas").mkdir()
    shutil.move(project / "schema.yaml", project / "schemas" / "users.yaml")
    assert not pipeline.generate(["schemas"], "out").skipped
    assert pipeline.generate(["schemas"], "out").skipped
    (project / "schemas" / "more.yaml").write_text(
        (GOLDEN / "field_types" / "schema.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    report = pipeline.generate(["schemas"], "out")
    assert not report.skipped
    assert "field_types/sample_base.py" in report.written


def test_a_lock_file_runs_the_pipeline(project: Path) -> None:
    generate()
    update_lock(load_and_validate(["schema.yaml"]), project / "aggregen.lock.json")
    assert not generate().skipped
    assert generate().skipped


def test_a_generator_change_runs_the_pipeline(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate()
    monkeypatch.setattr(freshness, "_generator_digest", lambda: "another generator")
    assert not generate().skipped
    assert generate().skipped


def test_another_output_directory_is_not_skipped(project: Path) -> None:
    generate()
    shutil.copytree(project / "out", project / "elsewhere")
    assert not pipeline.generate(["schema.yaml"], "elsewhere").skipped


def test_an_edited_file_list_in_the_manifest_is_not_trusted(project: Path) -> None:
    generate()
    path = project / "out" / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["files"]["users/user.py"]
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    assert not pipeline.check(["schema.yaml"], "out").ok
    assert not generate().skipped
    assert pipeline.check(["schema.yaml"], "out").ok


def test_check_ignores_a_stale_fingerprint(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate()
    monkeypatch.setattr(freshness, "_generator_digest", lambda: "another generator")
    assert pipeline.check(["schema.yaml"], "out").ok


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_the_output_does_not_depend_on_how_the_schemas_are_named(tmp_path: Path) -> None:
    (tmp_path / "schemas" / "sub").mkdir(parents=True)
    (tmp_path / "more").mkdir()
    shutil.copy(GOLDEN / "users" / "schema.yaml", tmp_path / "schemas" / "sub" / "users.yaml")
    shutil.copy(GOLDEN / "values_and_enums" / "schema.yaml", tmp_path / "more" / "enums.yaml")
    users, enums = "schemas/sub/users.yaml", "more/enums.yaml"
    spellings = [
        [users, enums],
        [enums, users],
        [str(tmp_path / users), enums],
        [f"./{enums}", "schemas/sub/../sub/users.yaml"],
    ]
    trees = []
    with working_directory(tmp_path):
        for paths in spellings:
            shutil.rmtree(tmp_path / "out", ignore_errors=True)
            assert not pipeline.generate(paths, "out").skipped
            trees.append(_tree(tmp_path / "out"))
    assert MANIFEST in trees[0]
    for tree in trees[1:]:
        assert tree == trees[0]
