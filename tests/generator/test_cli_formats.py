"""`-q`, `--format text|json|github`, shell completion and the SCHEMAS defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregen.generator.cli import main

GOOD = """\
domain: people
aggregates:
  Person:
    fields:
      name: {type: String, max_length: 20}
    events:
      Named:
        fields:
          name: {type: String, required: true}
    commands:
      name_it: {event: Named, creates: true}
"""

BAD = GOOD.replace("type: String, max_length: 20", "type: Strin")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.aggregen]\nschemas = ["schemas"]\nout = "out"\n', encoding="utf-8"
    )
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "people.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_quiet_prints_nothing_on_success_and_everything_on_failure(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-q", "generate") == (0, "", "")
    assert run(capsys, "check", "-q") == (0, "", "")
    assert run(capsys, "validate", "--quiet") == (0, "", "")
    (project / "out" / "people" / "person.py").write_text("# edited\n", encoding="utf-8")
    status, out, _ = run(capsys, "-q", "check")
    assert status == 1
    assert "hand-edited (generated files must not be edited): people/person.py" in out
    # Output for machines is never dropped.
    status, out, _ = run(capsys, "-q", "validate", "--format", "json")
    assert (status, json.loads(out)["ok"]) == (0, True)
    status, out, _ = run(capsys, "-q", "schema")
    assert (status, json.loads(out)["type"]) == (0, "object")


def test_check_as_json_lists_each_problem_with_a_format_version(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-q", "generate")[0] == 0
    status, out, _ = run(capsys, "check", "--format", "json")
    assert status == 0
    assert json.loads(out) == {
        "format_version": 1,
        "command": "check",
        "ok": True,
        "errors": [],
        "files": [],
        "docs": [],
        "findings": [],
        "to_do": [],
        "warnings": [],
        "fix": None,
    }
    (project / "out" / "people" / "person.py").unlink()
    status, out, _ = run(capsys, "check", "--format", "json")
    document = json.loads(out)
    assert status == 1
    assert document["ok"] is False
    assert document["files"] == [{"path": "out/people/person.py", "problem": "missing"}]
    assert document["fix"] == "aggregen generate"


def test_check_as_github_annotations(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "-q", "generate")[0] == 0
    (project / "out" / "people" / "person.py").unlink()
    status, out, _ = run(capsys, "check", "--format", "github")
    assert status == 1
    assert out == (
        "::error file=out/people/person.py,title=generated code::missing; to fix it run: "
        "aggregen generate\n"
    )


def test_invalid_schemas_as_json_and_github(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "schemas" / "people.yaml").write_text(BAD, encoding="utf-8")
    for command in ("validate", "check"):
        status, out, err = run(capsys, command, "--format", "json")
        document = json.loads(out)
        assert (status, document["command"], document["ok"]) == (1, command, False)
        [error] = document["errors"]
        assert (error["path"], error["line"]) == ("schemas/people.yaml", 5)
        assert "schemas/people.yaml:5:" in err
    status, out, _ = run(capsys, "validate", "--format", "github")
    assert status == 1
    assert out.startswith("::error file=schemas/people.yaml,line=5,col=")
    assert ",title=invalid schema::" in out


def test_breaking_json_carries_the_format_version(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "breaking", "--against", "schemas", "--format", "json")
    assert status == 0
    document = json.loads(out)
    assert (document["format_version"], document["command"]) == (1, "breaking")


def test_every_command_defaults_to_the_schemas_directory_without_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for command in (["validate"], ["lock"], ["docs"], ["breaking", "--against", "."]):
        status, _, err = run(capsys, *command)
        assert status == 2, command
        assert "no schemas: name them (SCHEMAS), set tool.aggregen.schemas" in err
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "people.yaml").write_text(GOOD, encoding="utf-8")
    assert run(capsys, "validate") == (0, "1 schema file(s) valid\n", "")
    assert run(capsys, "generate", "--out", "out")[0] == 0
    assert run(capsys, "check", "--out", "out")[0] == 0
    assert run(capsys, "lock")[0] == 0
    assert (tmp_path / "schemas" / "aggregen.lock.json").is_file()


def test_shell_completion_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete " in script
    for command in ("generate", "check", "validate", "breaking", "init", "lock", "docs"):
        assert command in script
