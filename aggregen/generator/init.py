"""`aggregen init`: a new project that uses aggregen, in a directory, never overwriting.

Writes `pyproject.toml` (with `[tool.aggregen]`), `schemas/<domain>.yaml` (an example
with the editor's `# yaml-language-server: $schema=` line) and the JSON Schema it
points to, `app.py` (a small app), `.pre-commit-config.yaml` and
`.github/workflows/aggregen.yml`; then generates the package into `src/`. A file
that exists already is kept as it is and reported; nothing is ever overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from aggregen import __version__
from aggregen.runtime.errors import ConfigurationError

__all__ = ["SOURCE_DIR", "InitReport", "init_project"]

SOURCE_DIR = "src"
"""Where `init` puts the generated packages: a source directory of the project, since
each package holds hand-written behaviour modules next to the generated ones."""
REPOSITORY = "https://github.com/aggregen/aggregen"
SCHEMA_FILE = "aggregen.schema.json"


@dataclass(frozen=True)
class InitReport:
    """What `init_project` wrote and what it kept."""

    created: tuple[Path, ...]
    kept: tuple[Path, ...]


def _series() -> str:
    major, minor = (int(part) for part in __version__.split(".")[:2])
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def _pyproject(name: str) -> str:
    return f"""\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["aggregen[messagedb]{_series()}"]

[project.optional-dependencies]
dev = ["aggregen[generate]{_series()}", "mypy", "pre-commit"]

[tool.aggregen]
schemas = ["schemas"]
out = "{SOURCE_DIR}"

[tool.mypy]
strict = true
mypy_path = "{SOURCE_DIR}"
files = ["app.py", "{SOURCE_DIR}"]
"""


def _schema(domain: str) -> str:
    return f"""\
# yaml-language-server: $schema={SCHEMA_FILE}
#
# One domain per file: `aggregen generate` writes the package {SOURCE_DIR}/{domain}/.
# The format: https://github.com/aggregen/aggregen/blob/main/docs/schema-format.md
domain: {domain}
description: Tasks to do, and when they were done.

aggregates:
  Task:
    description: Something to do.
    fields:
      title: {{type: String, required: true, max_length: 200}}
      done_on: {{type: Date}}
    events:
      Added:
        fields:
          title: {{type: String, required: true, max_length: 200}}
      Completed:
        fields:
          done_on: {{type: Date, required: true}}
    commands:
      add: {{event: Added, creates: true}}
      complete: {{event: Completed}}
"""


def _app(domain: str) -> str:
    return f'''\
"""A small app on the generated {domain} package: run `PYTHONPATH={SOURCE_DIR} python app.py`.

The event store is AGGREGEN_EVENT_STORE (postgresql://user@host:port/db for
MessageDB), else memory://.
"""

import datetime

from aggregen.runtime import connect
from {domain} import Task, TaskRepository

tasks = TaskRepository(connect())
task = Task.add(title="Try aggregen")
tasks.add(task)
loaded = tasks.get(task.id)
loaded.complete(done_on=datetime.date.today())
tasks.add(loaded)
print(f"{{loaded.title!r}} done on {{tasks.get(task.id).done_on}}")
'''


def _pre_commit() -> str:
    return f"""\
repos:
  - repo: {REPOSITORY}
    rev: v{__version__}
    hooks:
      - id: aggregen-validate
      - id: aggregen-check
"""


def _workflow() -> str:
    return f"""\
name: aggregen
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  schemas:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - uses: aggregen/aggregen@v{__version__}
"""


def _gitignore() -> str:
    return "__pycache__/\n*.egg-info/\n.venv/\n"


_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def init_project(directory: Path, domain: str = "tasks") -> InitReport:
    """Write a new project into `directory` (created when missing), keeping what exists.

    Raises `ConfigurationError` for a domain name that is not a Python package name.
    Generating the package is left to the caller (`aggregen init` runs `generate`).
    """
    if not _NAME.match(domain):
        raise ConfigurationError(
            f"domain {domain!r} must be a lower-case Python package name (like tasks)"
        )
    from .validate import json_schema

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.resolve().name).strip("-") or "app"
    files = {
        Path("pyproject.toml"): _pyproject(name),
        Path("schemas", f"{domain}.yaml"): _schema(domain),
        Path("schemas", SCHEMA_FILE): json.dumps(json_schema(), indent=2) + "\n",
        Path("app.py"): _app(domain),
        Path(".pre-commit-config.yaml"): _pre_commit(),
        Path(".github", "workflows", "aggregen.yml"): _workflow(),
        Path(".gitignore"): _gitignore(),
    }
    created: list[Path] = []
    kept: list[Path] = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            kept.append(relative)
        else:
            created.append(relative)
    return InitReport(tuple(created), tuple(kept))
