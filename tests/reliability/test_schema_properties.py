"""Hostile and bad schemas: errors with a position, or code that compiles, imports and runs.

Over a thousand schemas a run come from `strategies`: every valid one must be accepted and
give packages that compile, import and create an aggregate (events survive
`to_data`/`from_data` and a round trip through the in-memory store); every broken
one must give only `path:line:col: message` lines, exit status 1, no traceback and
no output at all. A sample of 50 valid outputs passes `mypy --strict` in one run.
Each property runs as seeded shards so that CI tries the same schemas every time; set
AGGREGEN_RELIABILITY_SCALE=10 locally to try ten times as many (and
AGGREGEN_RELIABILITY_SHRINK=0 to skip the minutes Hypothesis spends shrinking a failure).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from aggregen.generator import pipeline
from aggregen.generator.cli import main
from aggregen.generator.errors import SchemaErrors
from aggregen.generator.naming import snake_case
from aggregen.runtime import InMemoryEventStore

from ..generator.support import PYTHON, ROOT, importable, run_tool, working_directory
from .strategies import (
    TALLY,
    InvalidSchema,
    ValidSchema,
    build_value,
    invalid_schemas,
    valid_schemas,
)

SCALE = int(os.environ.get("AGGREGEN_RELIABILITY_SCALE", "1"))
_PHASES = tuple(
    phase
    for phase in Phase
    if phase is not Phase.shrink or os.environ.get("AGGREGEN_RELIABILITY_SHRINK", "1") == "1"
)


def _profile(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        phases=_PHASES,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


ERROR_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>[1-9][0-9]*):(?P<column>[1-9][0-9]*): (?P<message>.+)$"
)
SUMMARY = re.compile(r"^aggregen: [1-9][0-9]* error\(s\)(?P<tail>; nothing written)?$")
"""The last line of a refused run: `generate` adds that it wrote nothing, `validate`
(which never writes) does not."""
_NUMBERS = itertools.count()


def _fresh_directory(root: Path, name: str) -> Path:
    directory = root / f"{name}{next(_NUMBERS)}"
    directory.mkdir()
    return directory


def _cli(argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def _tree(directory: Path) -> list[str]:
    if not directory.exists():
        return ["<absent>"]
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


# -- invalid schemas -----------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability")


def _assert_rejected(schema_path: Path, out: Path, via_cli: bool, command: str) -> None:
    before = _tree(out)
    if via_cli:
        argv = [command, schema_path.name] + (["--out", str(out)] if command == "generate" else [])
        with working_directory(schema_path.parent):
            status, stdout, stderr = _cli(argv)
        assert status == 1, (stdout, stderr)
        assert "Traceback" not in stderr
        assert "internal error" not in stderr
        lines = stderr.splitlines()
        assert lines, "no error reported"
        summary = SUMMARY.match(lines[-1])
        assert summary, lines[-1]
        assert bool(summary["tail"]) == (command == "generate"), lines[-1]
        for line in lines[:-1]:
            match = ERROR_LINE.match(line)
            assert match, f"not path:line:col: message: {line!r}"
            assert match["path"] == schema_path.name
    else:
        with working_directory(schema_path.parent), pytest.raises(SchemaErrors) as caught:
            if command == "generate":
                pipeline.generate([schema_path.name], out)
            else:
                pipeline.models([schema_path.name])
        errors = caught.value.errors
        assert errors
        for error in errors:
            assert error.path == schema_path.name
            assert error.line >= 1
            assert error.column >= 1
            assert error.message.strip()
            assert "\n" not in str(error), str(error)
            assert ERROR_LINE.match(str(error)), str(error)
    assert _tree(out) == before, "output written for an invalid schema"


SHARDS = 5
"""Each property runs as this many tests, each on its own seed with a fifth of the
examples: the same number of schemas, spread over the xdist workers instead of
keeping one busy for minutes."""


def _sharded(examples: int, check: Callable[..., None], **strategies: object) -> list[object]:
    """`SHARDS` hypothesis tests of `check` over `strategies`, `examples` in all (times
    `SCALE`), each seeded with its number so that CI tries the same schemas every time."""
    shards: list[object] = []
    for number in range(SHARDS):
        test = _profile(examples // SHARDS)(given(**strategies)(check))
        shards.append(seed(number)(test))
    return shards


def _check_invalid(workspace: Path, broken: InvalidSchema, via_cli: bool, command: str) -> None:
    directory = _fresh_directory(workspace, "invalid")
    schema_path = directory / "schema.yaml"
    schema_path.write_text(broken.text, encoding="utf-8")
    out = directory / "out"
    if via_cli:
        out.mkdir()
        (out / "keep.txt").write_text("not aggregen's", encoding="utf-8")
    _assert_rejected(schema_path, out, via_cli, command)
    TALLY["invalid"] += 1
    TALLY["invalid via CLI"] += via_cli


(
    test_invalid_schemas_give_positioned_errors_and_no_output_0,
    test_invalid_schemas_give_positioned_errors_and_no_output_1,
    test_invalid_schemas_give_positioned_errors_and_no_output_2,
    test_invalid_schemas_give_positioned_errors_and_no_output_3,
    test_invalid_schemas_give_positioned_errors_and_no_output_4,
) = _sharded(
    850,
    _check_invalid,
    broken=invalid_schemas(),
    via_cli=st.booleans(),
    command=st.sampled_from(["generate", "validate"]),
)


# -- valid schemas -------------------------------------------------------------


def _generate(schema: ValidSchema, directory: Path, via_cli: bool, allow_unicode: bool) -> Path:
    schema_path = directory / "schema.yaml"
    schema_path.write_text(schema.text(allow_unicode=allow_unicode), encoding="utf-8")
    out = directory / "out"
    with working_directory(directory):
        if via_cli:
            status, stdout, stderr = _cli(["validate", "schema.yaml"])
            assert (status, stdout, stderr) == (0, "1 schema file(s) valid\n", "")
            status, stdout, stderr = _cli(["generate", "schema.yaml", "--out", "out"])
            assert (status, stderr) == (0, ""), stdout
            status, stdout, stderr = _cli(["check", "schema.yaml", "--out", "out"])
            assert (status, stderr) == (0, ""), stdout
        else:
            try:
                pipeline.generate(["schema.yaml"], out)
            except SchemaErrors as error:
                pytest.fail(f"a valid schema was refused:\n{error}\n{schema_path.read_text()}")
    return out


def _exercise(schema: ValidSchema, out: Path) -> None:
    """Compile every file, import the package, create each aggregate and reload it."""
    package = schema.data["domain"]
    for path in sorted(out.rglob("*.py")):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    with importable(out, [package]):
        module = importlib.import_module(package)
        for creation in schema.creations:
            aggregate_class = getattr(module, creation.aggregate)
            arguments = {name: build_value(v, module) for name, v in creation.arguments}
            aggregate = getattr(aggregate_class, creation.command)(**arguments)
            (event,) = aggregate.pending_events
            assert type(event).__name__ == creation.event
            assert type(event).from_data(event.to_data(), event.metadata) == event
            repository = getattr(module, f"{creation.aggregate}Repository")(InMemoryEventStore())
            repository.add(aggregate)
            again = repository.get(aggregate.id)
            assert again.id == aggregate.id
            assert again._snapshot_state() == aggregate._snapshot_state()
        for name in schema.data["aggregates"]:
            base = importlib.import_module(f"{package}.{snake_case(name)}_base")
            assert getattr(base, f"{name}Base").__category__ == schema.data["aggregates"][name].get(
                "category", name[:1].lower() + name[1:]
            )


def _check_valid(workspace: Path, schema: ValidSchema, via_cli: int, allow_unicode: bool) -> None:
    directory = _fresh_directory(workspace, "valid")
    number = directory.name.removeprefix("valid")
    schema = schema.renamed(f"{schema.data['domain']}_{number}")
    out = _generate(schema, directory, via_cli == 0, allow_unicode)
    _exercise(schema, out)
    TALLY["valid"] += 1
    TALLY["valid via CLI"] += via_cli == 0


(
    test_valid_schemas_give_code_that_compiles_imports_and_runs_0,
    test_valid_schemas_give_code_that_compiles_imports_and_runs_1,
    test_valid_schemas_give_code_that_compiles_imports_and_runs_2,
    test_valid_schemas_give_code_that_compiles_imports_and_runs_3,
    test_valid_schemas_give_code_that_compiles_imports_and_runs_4,
) = _sharded(
    170,
    _check_valid,
    schema=valid_schemas(),
    via_cli=st.integers(0, 4),
    allow_unicode=st.booleans(),
)


# -- mypy --strict on a sample ---------------------------------------------------

MYPY_SAMPLE = 50


def test_a_sample_of_valid_outputs_passes_mypy_strict(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("mypy")
    roots: list[Path] = []
    packages: list[str] = []

    @_profile(MYPY_SAMPLE)
    @given(schema=valid_schemas())
    def collect(schema: ValidSchema) -> None:
        if len(packages) >= MYPY_SAMPLE * SCALE:
            return
        directory = root / f"case{len(packages)}"
        directory.mkdir()
        package = f"sample{len(packages)}_{schema.data['domain']}"
        schema = schema.renamed(package)
        roots.append(_generate(schema, directory, via_cli=False, allow_unicode=True))
        packages.append(package)

    collect()
    assert len(packages) >= MYPY_SAMPLE
    arguments = [PYTHON, "-m", "mypy", "--config-file=", "--strict", "--no-error-summary"]
    arguments += ["--cache-dir", str(root / ".mypy_cache"), "--hide-error-context"]
    for package in packages:
        arguments += ["-p", package]
    result = run_tool(arguments, cwd=ROOT, mypy_path=roots)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-2000:]
    TALLY["mypy sample"] = len(packages)
