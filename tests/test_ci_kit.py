"""The CI kit: the pre-commit hooks (through the real `pre-commit run`, configured as
a project configures them) and the GitHub Action's script (run with the environment
GitHub gives it).

Both run in temporary git repositories made by `aggregen init`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from aggregen.generator.init import init_project
from aggregen.generator.pipeline import generate

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def sh(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=env or {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def git(cwd: Path, *argv: str) -> None:
    done = sh("git", "-c", "user.name=t", "-c", "user.email=t@example.org", *argv, cwd=cwd)
    assert done.returncode == 0, done.stderr


def make_project(directory: Path) -> Path:
    """An `aggregen init` project, generated and committed on branch main."""
    init_project(directory)
    generate([directory / "schemas"], directory / "src", directory)
    git(directory, "init", "-q", "-b", "main")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "base")
    return directory


def break_a_field(project: Path) -> None:
    """Rename Added's field without an alias: stored events would lose it."""
    schema = project / "schemas" / "tasks.yaml"
    text = schema.read_text(encoding="utf-8")
    schema.write_text(text.replace("          title: {", "          name: {", 1), encoding="utf-8")


def test_the_hooks_install_the_generator_the_generate_extra_names() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["generate"]
    assert {hook["id"] for hook in hooks} == {
        "aggregen-validate",
        "aggregen-check",
        "aggregen-breaking",
    }
    for hook in hooks:
        assert hook["pass_filenames"] is False
        assert hook["additional_dependencies"] == [d for d in extras if not d.startswith("shtab")]


def snapshot_of_this_repository(directory: Path) -> Path:
    """This working tree (tracked and new files) committed in a repository of its own.

    pre-commit installs hooks from a repository's commit, not from a working tree.
    """
    listed = sh(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(directory, "init", "-q", "-b", "main")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "snapshot")
    return directory


def use_hooks_from(project: Path, hooks: Path) -> None:
    """Point the project's `.pre-commit-config.yaml` (as `aggregen init` wrote it) at
    `hooks`' last commit, with every hook (`breaking` too, as docs/ci.md says to add
    after the first commit), and commit it: pre-commit refuses an unstaged config."""
    config = project / ".pre-commit-config.yaml"
    written = yaml.safe_load(config.read_text(encoding="utf-8"))
    [repository] = written["repos"]
    revision = sh("git", "rev-parse", "HEAD", cwd=hooks).stdout.strip()
    repository.update(
        repo=str(hooks),
        rev=revision,
        hooks=[{"id": "aggregen-validate"}, {"id": "aggregen-check"}, {"id": "aggregen-breaking"}],
    )
    config.write_text(yaml.safe_dump(written, sort_keys=False), encoding="utf-8")
    git(project, "add", ".pre-commit-config.yaml")
    git(project, "commit", "-q", "-m", "pre-commit hooks")


def test_the_pre_commit_hooks_run_from_a_projects_configuration(tmp_path: Path) -> None:
    hooks = snapshot_of_this_repository(tmp_path / "aggregen")
    project = make_project(tmp_path / "project")
    use_hooks_from(project, hooks)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }

    def run_hooks() -> subprocess.CompletedProcess[str]:
        """Every configured hook on the whole project (installed by the first run)."""
        return sh("pre-commit", "run", "--all-files", cwd=project, env=env)

    done = run_hooks()
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("aggregen validate", "aggregen check", "aggregen breaking"):
        assert re.search(rf"^{name}\.+Passed$", done.stdout, re.MULTILINE), done.stdout
    (project / "src" / "tasks" / "task.py").write_text("# edited\n", encoding="utf-8")
    break_a_field(project)
    done = run_hooks()
    assert done.returncode == 1
    assert re.search(r"^aggregen validate\.+Passed$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^aggregen check\.+Failed$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^aggregen breaking\.+Failed$", done.stdout, re.MULTILINE), done.stdout
    assert "hand-edited (generated files must not be edited): tasks/task.py" in done.stdout
    assert "FIELD_RENAMED_WITHOUT_ALIAS" in done.stdout, done.stdout


def test_the_action_script_annotates_and_writes_the_job_summary(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    base = make_project(tmp_path / "base")
    git(tmp_path, "clone", "-q", "--bare", str(base), str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    git(work, "checkout", "-q", "-b", "pr")
    break_a_field(work)
    generate([work / "schemas"], work / "src", work)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "rename a field")
    # A pull request's checkout: the head alone, the base branch not fetched yet.
    git(work, "update-ref", "-d", "refs/remotes/origin/main")
    summary = tmp_path / "summary.md"
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(work),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_BASE_REF": "main",
        "GITHUB_HEAD_REF": "pr",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_STEP_SUMMARY": str(summary),
        "AGGREGEN_AGAINST": "",
        "AGGREGEN_SCHEMAS": "",
        "AGGREGEN_INSTALL": "false",
        "AGGREGEN_PYTHON": sys.executable,
    }
    done = sh("bash", str(ROOT / "scripts" / "github-action.sh"), cwd=work, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert annotations, done.stdout
    assert all(
        line.startswith(
            ("::error file=schemas/tasks.yaml,line=", "::warning file=schemas/tasks.yaml,line=")
        )
        for line in annotations
    ), annotations
    assert any(line.startswith("::error ") for line in annotations), annotations
    report = summary.read_text(encoding="utf-8")
    assert "## aggregen check\n\naggregen: src is up to date\n" in report
    assert "## aggregen breaking --against origin/main" in report
    assert "| " in report  # the Markdown table of findings

    # Without a pull request and without `against`, breaking is skipped; check passes.
    summary.unlink()
    push = {**env, "GITHUB_BASE_REF": "", "GITHUB_EVENT_NAME": "push"}
    done = sh("bash", str(ROOT / "scripts" / "github-action.sh"), cwd=work, env=push)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aggregen breaking skipped" in summary.read_text(encoding="utf-8")
