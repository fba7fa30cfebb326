"""The catalogue of schema changes: each case directory holds `old.yaml`, `new.yaml`,
optional `locked/*.yaml` (locked in order before the check) and `accepted.toml`, and
`expected.json`, the exact findings. `AGGREGEN_UPDATE_CATALOGUE=1` rewrites the
expected files (review the diff!)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aggregen.review.acceptance import Acceptance, apply_acceptances, read_accepted
from aggregen.review.compare import find_breaking_changes
from aggregen.review.finding import Finding, exit_code
from aggregen.review.lock import check_lock, read_lock, update_lock
from aggregen.review.report import render
from aggregen.review.rules import CODE, RULES, STORAGE

from .support import load_schemas

CATALOGUE = Path(__file__).parent / "catalogue"
CASES = sorted(path.name for path in CATALOGUE.iterdir() if path.is_dir())
UPDATE = os.environ.get("AGGREGEN_UPDATE_CATALOGUE") == "1"


def run_case(case: Path, tmp_path: Path) -> list[Finding]:
    lock = None
    locked = sorted((case / "locked").glob("*.yaml")) if (case / "locked").is_dir() else []
    lock_path = tmp_path / "aggregen.lock.json"
    for path in locked:
        update_lock(load_schemas([path]), lock_path)
    if locked:
        lock = read_lock(lock_path)
    old = load_schemas([case / "old.yaml"])
    new = load_schemas([case / "new.yaml"])
    findings = find_breaking_changes(old, new, lock=lock)
    return apply_acceptances(findings, read_accepted(case / "accepted.toml"))


def as_expected(finding: Finding, case: Path, tmp_path: Path) -> dict[str, Any]:
    data = finding.to_json()
    path = Path(data.pop("path"))
    for base in (case, tmp_path):
        if path.is_relative_to(base):
            path = path.relative_to(base)
    data["location"] = f"{path.as_posix()}:{data.pop('line')}:{data.pop('column')}"
    del data["fingerprint"]
    return data


@pytest.mark.parametrize("name", CASES)
def test_catalogue(name: str, tmp_path: Path) -> None:
    case = CATALOGUE / name
    actual = [as_expected(f, case, tmp_path) for f in run_case(case, tmp_path)]
    expected_path = case / "expected.json"
    if UPDATE:
        expected_path.write_text(json.dumps(actual, indent=2) + "\n", encoding="utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("safe_")])
def test_safe_changes_have_no_storage_findings(name: str, tmp_path: Path) -> None:
    findings = run_case(CATALOGUE / name, tmp_path)
    # a safe change may still change what events do to the state: a snapshot warning
    assert [
        f for f in findings if f.category == STORAGE and f.rule != "SNAPSHOT_SHAPE_CHANGED"
    ] == []


def test_every_rule_has_a_case() -> None:
    seen = set()
    for name in CASES:
        seen |= {
            item["rule"] for item in json.loads((CATALOGUE / name / "expected.json").read_text())
        }
    assert sorted(set(RULES) - seen) == []


def test_accepted_break_does_not_fail_and_stale_one_does(tmp_path: Path) -> None:
    accepted = run_case(CATALOGUE / "accepted_break", tmp_path)
    assert [f.rule for f in accepted if f.accepted] == [
        "FIELD_REMOVED",
        "COMMAND_PARAMETER_REMOVED",
    ]
    assert exit_code(accepted) == 0
    stale = run_case(CATALOGUE / "accepted_break_stale", tmp_path)
    assert exit_code(stale) == 1
    assert any("no longer applies" in f.note for f in stale)


def test_a_tightened_rule_is_a_code_finding_against_the_base_only(tmp_path: Path) -> None:
    # Reads check types, not rules: a stricter rule breaks callers, not stored events.
    assert RULES["FIELD_CONSTRAINT_TIGHTENED"].category == CODE
    case = CATALOGUE / "field_constraint_tightened"
    findings = run_case(case, tmp_path)
    assert {(f.rule, f.category) for f in findings} == {("FIELD_CONSTRAINT_TIGHTENED", CODE)}
    # The same change, known only from the lock (version 1 locked, no base schemas).
    lock_path = tmp_path / "aggregen.lock.json"
    update_lock(load_schemas([case / "old.yaml"]), lock_path)
    against_lock = find_breaking_changes(
        None, load_schemas([case / "new.yaml"]), lock=read_lock(lock_path)
    )
    assert against_lock == []


def test_a_tightened_rule_can_be_accepted(tmp_path: Path) -> None:
    findings = run_case(CATALOGUE / "field_constraint_tightened", tmp_path)
    assert exit_code(findings) == 1
    acceptances = [
        Acceptance(f.rule, "Order.Placed", "no caller sends such values", f.fingerprint)
        for f in findings
    ]
    accepted = apply_acceptances(findings, acceptances)
    assert all(f.accepted == "no caller sends such values" for f in accepted)
    assert exit_code(accepted) == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("safe_rule_tightened_without_version_bump", {("FIELD_CONSTRAINT_TIGHTENED", CODE)}),
        ("safe_rule_loosened_without_version_bump", set()),
    ],
)
def test_a_rule_changed_in_place_needs_no_version_bump(
    name: str, expected: set[tuple[str, str]], tmp_path: Path
) -> None:
    # Rules are not part of the wire shape: version 1 stays version 1, locked or not.
    case = CATALOGUE / name
    findings = run_case(case, tmp_path)
    assert {(f.rule, f.category) for f in findings} == expected
    lock_path = tmp_path / "aggregen.lock.json"
    locked = lock_path.read_bytes()
    new = load_schemas([case / "new.yaml"])
    lock = read_lock(lock_path)
    assert lock is not None
    assert check_lock(new, lock) == []
    assert find_breaking_changes(None, new, lock=lock) == []
    update_lock(new, lock_path)  # no "changed in place"
    assert lock_path.read_bytes() == locked


def test_a_rename_without_alias_is_guessed_from_the_lock_whatever_the_rules(
    tmp_path: Path,
) -> None:
    # The lock holds no rules, the current schema does: the guess ignores them.
    old = tmp_path / "old.yaml"
    old.write_text(
        "domain: shop\naggregates:\n  Order:\n    events:\n      Placed:\n        fields:\n"
        "          reference: {type: String, max_length: 140}\n",
        encoding="utf-8",
    )
    new = tmp_path / "new.yaml"
    new.write_text(
        old.read_text(encoding="utf-8")
        .replace("        fields:", "        version: 2\n        fields:")
        .replace(
            "reference: {type: String, max_length: 140}", "memo: {type: String, min_length: 1}"
        ),
        encoding="utf-8",
    )
    lock_path = tmp_path / "aggregen.lock.json"
    update_lock(load_schemas([old]), lock_path)
    findings = find_breaking_changes(None, load_schemas([new]), lock=read_lock(lock_path))
    assert [f.rule for f in findings] == ["UPCASTER_MISSING", "FIELD_RENAMED_WITHOUT_ALIAS"]


def test_exit_code_counts_unaccepted_errors_only(tmp_path: Path) -> None:
    assert exit_code(run_case(CATALOGUE / "safe_no_change", tmp_path)) == 0
    assert exit_code(run_case(CATALOGUE / "snapshot_shape_changed", tmp_path)) == 0
    assert exit_code(run_case(CATALOGUE / "field_made_required", tmp_path)) == 1


def test_formats(tmp_path: Path) -> None:
    case = CATALOGUE / "field_made_required"
    findings = run_case(case, tmp_path)
    text = render(findings, "text", against="main")
    assert text.endswith("4 errors, 1 warning against main\n")
    assert ": error FIELD_MADE_REQUIRED [STORAGE] shop.Order.Placed: field 'total'" in text
    data = json.loads(render(findings, "json", against="main"))
    assert data["summary"] == {"errors": 4, "warnings": 1, "accepted": 0}
    assert [f["rule"] for f in data["findings"]] == [
        "SNAPSHOT_SHAPE_CHANGED",
        "UPCASTER_MISSING",
        "FIELD_MADE_REQUIRED",
        "FIELD_TYPE_CHANGED",
        "COMMAND_PARAMETER_REQUIRED",
    ]
    github = render(findings, "github").splitlines()
    assert github[2].startswith("::error file=")
    assert ",title=FIELD_MADE_REQUIRED::[STORAGE] shop.Order.Placed: field 'total'" in github[2]
    markdown = render(findings, "markdown")
    assert "| error | STORAGE | `FIELD_MADE_REQUIRED` | `shop.Order.Placed` |" in markdown


def test_github_annotations_escape_data_and_properties() -> None:
    finding = Finding("a,b:c.yaml", 3, 4, "EVENT_REMOVED", "d.A.E", "50%\nnext", "sha256:x")
    line = render([finding], "github").splitlines()[0]
    assert line == (
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4,title=EVENT_REMOVED::"
        "[STORAGE] d.A.E: 50%25%0Anext"
    )


def test_markdown_escapes_schema_strings() -> None:
    finding = Finding(
        "x.yaml", 1, 1, "EVENT_REMOVED", "d.A.E", "<img src=x> | [link](javascript:1)", "f"
    )
    markdown = render([finding], "markdown")
    assert "<img" not in markdown
    assert "&lt;img src=x&gt; \\| \\[link\\](javascript:1)" in markdown
