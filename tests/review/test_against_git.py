"""`aggregen breaking --against REF`: a real git repository with two commits, and a directory."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aggregen.generator.validate import load_and_validate
from aggregen.review.against import AgainstError, load_against
from aggregen.review.cli import add_review_commands, run_breaking, run_lock
from aggregen.review.lock import update_lock

V1 = """\
domain: shop
aggregates:
  Order:
    events:
      Placed:
        fields:
          customer: {type: String, required: true}
          total: Integer
      Cancelled:
        fields:
          reason: Text
"""
V2 = V1.replace("      Placed:\n", "      Placed:\n        version: 2\n").replace(
    "          total: Integer", "          total: Integer\n          note: Text"
)
V3 = V2.replace("version: 2", "version: 3").replace(
    "          total: Integer", "          total: {type: Integer, required: true}"
)


def git(repo: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *arguments],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def commit(repo: Path, text: str, message: str) -> None:
    (repo / "schemas" / "shop.yaml").write_text(text, encoding="utf-8")
    update_lock(load_and_validate([repo / "schemas"]), repo / "schemas" / "aggregen.lock.json")
    git(repo, "add", "schemas")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "schemas").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    commit(root, V1, "v1")
    commit(root, V2, "v2")
    (root / "schemas" / "shop.yaml").write_text(V3, encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def breaking(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="aggregen")
    add_review_commands(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["breaking", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_breaking(arguments, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def findings(output: str) -> list[tuple[str, str, str]]:
    return [
        (f["rule"], f"{f['path']}:{f['line']}:{f['column']}", f["message"])
        for f in json.loads(output)["findings"]
    ]


MADE_REQUIRED = (
    "field 'total' was optional and is now required: version {} payloads may hold null for "
    "it; give it a default instead"
)


def test_against_the_previous_commit_checks_every_locked_version(repo: Path) -> None:
    status = git(repo, "status", "--porcelain")
    head = git(repo, "rev-parse", "HEAD")
    code, out, err = breaking("--against", "HEAD~1", "--format", "json", "schemas")
    assert (code, err) == (1, "")
    assert findings(out) == [
        (
            "UPCASTER_MISSING",
            "schemas/shop.yaml:5:7",
            "version 1, 2 payloads cannot be upcast to version 3 by the generated upcaster "
            "(see the other findings): write an upcaster by hand and list the versions under "
            "`hand_written_upcast: [1, 2]`",
        ),
        ("FIELD_MADE_REQUIRED", "schemas/shop.yaml:9:11", MADE_REQUIRED.format(1)),
        ("FIELD_MADE_REQUIRED", "schemas/shop.yaml:9:11", MADE_REQUIRED.format(2)),
        (
            "FIELD_TYPE_CHANGED",
            "schemas/shop.yaml:9:11",
            "field 'total' of Placed changed type from int | None to int: code that builds or "
            "reads it may break",
        ),
    ]
    assert json.loads(out)["against"] == "HEAD~1"
    assert git(repo, "status", "--porcelain") == status
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_removal_points_into_the_ref_and_github_annotations_name_the_file(repo: Path) -> None:
    (repo / "schemas" / "shop.yaml").write_text(
        V2.replace("      Cancelled:\n        fields:\n          reason: Text\n", ""),
        encoding="utf-8",
    )
    code, out, _ = breaking("--against", "HEAD", "schemas")
    assert code == 1
    assert out.splitlines() == [
        "HEAD:schemas/shop.yaml:11:7: error EVENT_REMOVED [STORAGE] shop.Order.Cancelled: "
        "event Cancelled (wire type 'Cancelled') was removed: its stored events would no "
        "longer rehydrate; keep it, or list its wire type under the `aliases` of the event "
        "that replaces it",
        "1 error, 0 warnings against HEAD",
    ]
    code, out, _ = breaking("--against", "HEAD", "--format", "github", "schemas")
    assert out.startswith("::error file=schemas/shop.yaml,line=11,col=7,title=EVENT_REMOVED::")


def test_deleting_the_lock_does_not_hide_locked_versions(repo: Path) -> None:
    (repo / "schemas" / "aggregen.lock.json").unlink()
    code, out, _ = breaking("--against", "HEAD", "--format", "json", "schemas")
    assert code == 1
    assert ("FIELD_MADE_REQUIRED", "schemas/shop.yaml:9:11", MADE_REQUIRED.format(1)) in (
        findings(out)
    )


def test_against_a_directory(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "shop.yaml").write_text(V1, encoding="utf-8")
    shutil.copy(repo / "schemas" / "aggregen.lock.json", base / "aggregen.lock.json")
    code, out, _ = breaking("--against", str(base), "--format", "json", "schemas")
    assert code == 1
    assert [rule for rule, _, _ in findings(out)] == [
        "UPCASTER_MISSING",
        "FIELD_MADE_REQUIRED",
        "FIELD_MADE_REQUIRED",
        "FIELD_TYPE_CHANGED",
    ]


def test_safe_change_passes(repo: Path) -> None:
    (repo / "schemas" / "shop.yaml").write_text(
        V2.replace("version: 2", "version: 3").replace(
            "          note: Text",
            "          note: Text\n          currency: {type: String, default: EUR}",
        ),
        encoding="utf-8",
    )
    code, out, _ = breaking("--against", "main", "schemas")
    assert (code, out) == (0, "no breaking changes against main\n")


def test_bad_ref_and_invalid_base(repo: Path) -> None:
    code, _, err = breaking("--against", "no-such-ref", "schemas")
    assert code == 2
    assert "'no-such-ref' is neither a directory nor a git commit" in err
    with pytest.raises(AgainstError):
        load_against("no-such-ref", ["schemas"], loader=load_and_validate)


def test_lock_command(repo: Path) -> None:
    parser = argparse.ArgumentParser(prog="aggregen")
    add_review_commands(parser.add_subparsers(dest="command"))
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_lock(parser.parse_args(["lock", "schemas"]), stdout, stderr)
    assert (code, stderr.getvalue()) == (0, "")
    assert stdout.getvalue() == "aggregen: schemas/aggregen.lock.json: 1 event version(s) added\n"
