"""`aggregen init`, then the README's path for users: edit the schema, generate, run.

Everything runs in a fresh directory outside the repository, with the installed
`aggregen` command, as a new user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AGGREGEN = str(Path(sys.executable).with_name("aggregen"))


def run(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_init_edit_generate_run_in_a_fresh_directory(tmp_path: Path) -> None:
    project = tmp_path / "my-app"
    done = run(AGGREGEN, "init", str(project), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in (
        "pyproject.toml",
        "schemas/tasks.yaml",
        "schemas/aggregen.schema.json",
        "app.py",
        ".pre-commit-config.yaml",
        ".github/workflows/aggregen.yml",
        "src/tasks/__init__.py",
        "src/tasks/task_behavior.py",
    ):
        assert (project / name).is_file(), name
    schema = (project / "schemas" / "tasks.yaml").read_text(encoding="utf-8")
    assert schema.startswith("# yaml-language-server: $schema=aggregen.schema.json\n")
    assert '[tool.aggregen]\nschemas = ["schemas"]\nout = "src"' in (
        project / "pyproject.toml"
    ).read_text(encoding="utf-8")

    # Edit the schema: a new field and the command that sets it.
    schema = schema.replace(
        "      done_on: {type: Date}\n",
        "      done_on: {type: Date}\n      owner: {type: String, max_length: 40}\n",
    ).replace(
        "    commands:\n",
        "      Assigned:\n        fields:\n          owner: {type: String, required: true}\n"
        "    commands:\n      assign: {event: Assigned}\n",
    )
    (project / "schemas" / "tasks.yaml").write_text(schema, encoding="utf-8")
    assert run(AGGREGEN, "check", cwd=project).returncode == 1
    done = run(AGGREGEN, "generate", cwd=project)
    assert done.returncode == 0, done.stderr
    assert run(AGGREGEN, "check", "-q", cwd=project).returncode == 0
    app = project / "app.py"
    app.write_text(
        app.read_text(encoding="utf-8").replace(
            "tasks.add(loaded)\n", "loaded.assign(owner='ann')\ntasks.add(loaded)\n"
        )
        + "print(tasks.get(task.id).owner)\n",
        encoding="utf-8",
    )
    done = run(sys.executable, "app.py", cwd=project, PYTHONPATH="src")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("'Try aggregen' done on ")
    assert lines[1] == "ann"
    # The project's [tool.mypy] (mypy_path = "src") type-checks the app and the package;
    # MYPYPATH stands in for an installed aggregen (mypy cannot follow editable installs).
    mypy = str(Path(sys.executable).with_name("mypy"))
    root = str(Path(__file__).resolve().parents[2])
    done = run(mypy, cwd=project, MYPYPATH=root)
    assert done.returncode == 0, done.stdout


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'mine'\n", encoding="utf-8")
    (tmp_path / "app.py").write_text("print('mine')\n", encoding="utf-8")
    done = run(AGGREGEN, "init", ".", cwd=tmp_path)
    assert done.returncode == 1
    assert f"kept {Path('pyproject.toml').as_posix()} (exists; not overwritten)" in done.stdout
    assert "has no [tool.aggregen] table with schemas and out; add:" in done.stderr
    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8") == "[project]\nname = 'mine'\n"
    assert (tmp_path / "app.py").read_text(encoding="utf-8") == "print('mine')\n"
    assert (tmp_path / "schemas" / "tasks.yaml").is_file()


@pytest.mark.parametrize("domain", ["Tasks", "my-tasks", "1tasks"])
def test_init_refuses_a_domain_that_is_no_package_name(tmp_path: Path, domain: str) -> None:
    done = run(AGGREGEN, "init", ".", "--domain", domain, cwd=tmp_path)
    assert done.returncode == 2
    assert f"domain {domain!r} must be a lower-case Python package name" in done.stderr
    assert list(tmp_path.iterdir()) == []
