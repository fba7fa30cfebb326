"""Generated code is black-stable without black: the proof for skipping it.

The format stage runs black only on files `needs_black` flags. These tests show
that every file it does not flag is exactly what black would write, and that every
file generated is black-stable: on the golden cases, on generated/, on the
benchmark's domain (where no file may need black at all), and on a large set of
varied schemas drawn by the reliability strategies (free text full of quotes,
backslashes and non-ASCII, every field type and option, long names).
"""

from __future__ import annotations

import ast
import functools
import tempfile
from pathlib import Path

import black
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from aggregen.generator.errors import SchemaErrors
from aggregen.generator.format import (
    flagged_lines,
    format_file,
    format_files,
    format_source,
    needs_black,
)
from aggregen.generator.layout import LINE_LENGTH, fit
from aggregen.generator.literals import literal, repr_quoted, string_literal
from aggregen.generator.pipeline import models
from aggregen.generator.render import RenderedFile, render
from aggregen.generator.statements import format_statements
from benchmarks.suite_generator import aggregen_yaml
from tests.reliability.strategies import ValidSchema, valid_schemas

from .support import ROOT, working_directory

BLACK = black.Mode(line_length=LINE_LENGTH)


@functools.lru_cache(maxsize=4096)
def blacks(text: str) -> str:
    """black's formatting of `text`, computed once per distinct text.

    black is a pure function of its input, and the property below meets the same file
    text in many examples (about 60% of its calls were repeats): a repeat needs no
    second run to be checked.
    """
    return black.format_str(text, mode=BLACK)


def assert_unflagged_files_are_blacks(files: list[RenderedFile]) -> int:
    """Every rendered file `needs_black` lets through is black's already; how many were."""
    skipped = 0
    for file in files:
        if file.path.endswith(".py") and not needs_black(file.text):
            skipped += 1
            assert blacks(file.text) == file.text, file.path
    return skipped


def test_generated_directory_is_black_stable() -> None:
    for path in sorted((ROOT / "generated").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert black.format_str(text, mode=BLACK) == text, path


def test_the_benchmark_domain_needs_black_for_no_file(tmp_path: Path) -> None:
    schema = tmp_path / "bench.yaml"
    schema.write_text(aggregen_yaml("bench", 12), encoding="utf-8")
    with working_directory(tmp_path):
        rendered = render(models([schema]))
    python = [f for f in rendered if f.path.endswith(".py")]
    assert [f.path for f in python if needs_black(f.text)] == []
    assert assert_unflagged_files_are_blacks(python) == len(python)


@pytest.mark.parametrize("schema", sorted((ROOT / "tests" / "golden").glob("*/schema.yaml")))
def test_golden_files_that_skip_black_are_blacks(schema: Path) -> None:
    with working_directory(schema.parent):
        rendered = render(models([schema.name]))
    python = sum(f.path.endswith(".py") for f in rendered)
    assert assert_unflagged_files_are_blacks(rendered) >= python - 1


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(valid_schemas())
def test_every_generated_file_is_black_stable(schema: ValidSchema) -> None:
    # One directory per example: hypothesis runs many examples in one test call.
    with tempfile.TemporaryDirectory(prefix="aggregen-black-") as directory:
        path = Path(directory) / "schema.yaml"
        path.write_text(schema.text(), encoding="utf-8")
        with working_directory(Path(directory)):
            try:
                rendered = render(models([path.name]))
            except SchemaErrors:
                reject()  # the strategies' business (tests/reliability), not formatting's
    assert_unflagged_files_are_blacks(rendered)
    # The format stage of the same files (what `build` would give, without running the
    # model and render stages again), where black often formats single statements
    # only: the same text as black on the whole file. The unflagged ones were just checked.
    flagged = [file for file in rendered if needs_black(file.text)]
    for file, formatted in zip(flagged, format_files(flagged), strict=True):
        assert formatted.text == blacks(file.text), file.path


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=20))
def test_string_literals_are_blacks_and_mean_the_string(value: str) -> None:
    source = string_literal(value)
    assert ast.literal_eval(source) == value
    assert black.format_str(f"x = {source}\n", mode=BLACK) == f"x = {source}\n"
    assert repr_quoted(f"Literal[{source}]") == f"Literal[{value!r}]"


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("plain", '"plain"'),
        ("it's", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'"),
        ("both ' and \"", '"both \' and \\""'),
        (("a",), '("a",)'),
        (("a", 1), '("a", 1)'),
        (None, "None"),
    ],
)
def test_literal(value: object, source: str) -> None:
    assert literal(value) == source


@pytest.mark.parametrize(
    ("code", "indent", "comma", "expected"),
    [
        ("x = f(a)", 4, False, "x = f(a)"),
        (
            "from m import " + ", ".join(f"name{i}" for i in range(12)),
            0,
            False,
            "from m import (\n" + "".join(f"    name{i},\n" for i in range(12)) + ")",
        ),
        (
            "self.raise_(Event(" + ", ".join(f"f{i}=f{i}" for i in range(12)) + "))",
            8,
            False,
            "self.raise_(\n            Event(\n"
            + "".join(f"                f{i}=f{i},\n" for i in range(12))
            + "            )\n        )",
        ),
        (
            "value=None if data.get('value') is None else datetime.date.fromisoformat(data['v'])",
            12,
            True,
            "value=(\n                None\n                if data.get('value') is None\n"
            "                else datetime.date.fromisoformat(data['v'])\n            ),",
        ),
        # Not a shape black is known to keep: left for black.
        (
            "x = [item for item in " + "y" * 90 + "]",
            8,
            False,
            "x = [item for item in " + "y" * 90 + "]",
        ),
    ],
)
def test_fit_shapes(code: str, indent: int, comma: bool, expected: str) -> None:
    assert fit(code, indent, comma=comma) == expected


@pytest.mark.parametrize(
    "text",
    [
        "x = 1  \n",
        "x = 1\n\n",
        "x = 1",
        "x = '" + "a" * 90 + "'\n",
        'x = \'"""\'\n',
        '"""open\n',
        "x = 'é" + "a" * 50 + "'\n",
    ],
)
def test_needs_black_flags_what_black_may_change(text: str) -> None:
    assert needs_black(text)


@pytest.mark.parametrize(
    "text",
    [
        "x = 1\n",
        "# " + "c" * 100 + "\n",
        '"""' + "d" * 100 + '"""\n',
        'def f() -> None:\n    """Doc.\n\n    ' + "d" * 100 + '\n    """\n',
    ],
)
def test_needs_black_lets_through_what_black_keeps(text: str) -> None:
    assert not needs_black(text)
    assert black.format_str(text, mode=BLACK) == text


STATEMENTS = [
    "x = 1\ny = call(" + ", ".join(f"argument{i}" for i in range(12)) + ")\nz = 2\n",
    "class A:\n    @classmethod\n    def make(cls, "
    + ", ".join(f"argument{i}: int = {i}" for i in range(8))
    + ") -> None:\n        pass\n",
    "def f() -> None:\n    if x:\n        return g("
    + ", ".join(f'"text{i}"' for i in range(12))
    + ")  # a comment\n",
    "class A:\n    x: Literal[" + ", ".join(f'"v{i}"' for i in range(14)) + "] | None = None\n",
    'class A:\n    """Doc."""\n\n    x = (\'"""\',)\n    y = ("\'\'\'", \'"""\')\n',
]


@pytest.mark.parametrize("source", STATEMENTS)
def test_statements_alone_are_formatted_as_black_formats_the_file(source: str) -> None:
    flagged = flagged_lines(source)
    assert flagged
    assert format_statements(source, flagged, format_source) == format_source(source)


@pytest.mark.parametrize(
    "source",
    [
        "@decorator(" + ", ".join(f"argument{i}" for i in range(12)) + ")\ndef f():\n    pass\n",
        "def f():\n    '" + "d" * 90 + "'\n",
        "if x:\n    pass\nelif " + " and ".join(f"c{i}" for i in range(16)) + ":\n    pass\n",
        'x = g("""a\nb""", c)\n',
    ],
)
def test_statements_black_must_see_in_context_are_left_to_the_whole_file(source: str) -> None:
    flagged = flagged_lines(source)
    assert flagged
    assert format_statements(source, flagged, format_source) is None
    assert format_file(RenderedFile("m.py", source)).text == format_source(source)
