"""Load: discovery, YAML 1.2 scalars, positions, and no traceback for any input."""

from __future__ import annotations

import os
import stat
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregen.generator.errors import SchemaError, SchemaErrors
from aggregen.generator.load import MAX_DEPTH, MAX_FILE_BYTES, SchemaDocument, discover, load
from aggregen.generator.load import _load_file as load_file
from aggregen.generator.validate import load_and_validate, validate
from aggregen.runtime.errors import AggregenError


def _write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _errors(paths: list[Path]) -> list[str]:
    with pytest.raises(SchemaErrors) as caught:
        load(paths)
    return [f"{Path(e.path).name}:{e.line}:{e.column}: {e.message}" for e in caught.value.errors]


def test_schema_error_formats_and_sorts() -> None:
    late = SchemaError("b.yaml", 1, 1, "z")
    early = SchemaError("a.yaml", 10, 2, "y")
    earlier = SchemaError("a.yaml", 2, 30, "x")
    assert str(early) == "a.yaml:10:2: y"
    errors = SchemaErrors([late, early, earlier, early])
    assert errors.errors == (earlier, early, late)
    assert str(errors) == "a.yaml:2:30: x\na.yaml:10:2: y\nb.yaml:1:1: z"
    assert isinstance(errors, AggregenError)


def test_discover_expands_directories_sorted_and_deduplicated(tmp_path: Path) -> None:
    b = _write(tmp_path, "b.yaml", "x: 1\n")
    a = _write(tmp_path, "sub/a.yml", "x: 1\n")
    _write(tmp_path, "notes.txt", "x: 1\n")
    _write(tmp_path, ".hidden/c.yaml", "x: 1\n")
    _write(tmp_path, ".d.yaml", "x: 1\n")
    explicit = _write(tmp_path, "given.schema", "x: 1\n")
    found = discover([tmp_path, b, str(b), explicit])
    assert found == sorted([b, a, explicit], key=str)


def test_discover_reports_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(SchemaErrors) as caught:
        discover([tmp_path / "nope.yaml", tmp_path])
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path / 'nope.yaml'}:1:1: no such file or directory"
    ]


def test_load_keeps_scalars_as_yaml_1_2_core(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "s.yaml",
        "a: 2024-01-01\nb: [yes, no, on, off, true, False]\nc: [010, 0x1F, 0o17, 1:20]\n"
        "d: [1.5, 1e3, .inf, .nan, ~, null, '']\ne: 2024-01-01T10:00:00Z\nf:\n",
    )
    (document,) = load([path])
    assert document.data == {
        "a": "2024-01-01",
        "b": ["yes", "no", "on", "off", True, False],
        "c": [10, 31, 15, "1:20"],
        "d": [1.5, 1000.0, ".inf", ".nan", None, None, ""],
        "e": "2024-01-01T10:00:00Z",
        "f": None,
    }


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_next_line_and_separators_are_characters_as_in_yaml_1_2(tmp_path: Path, char: str) -> None:
    """PyYAML reads U+0085 (and U+2028, U+2029) as line breaks; YAML 1.2 does not."""
    text = (
        f'double: "next{char}line"\n'
        f"single: 'next{char}line'\n"
        f"plain: next{char}line\n"
        f"block: |\n  next{char}line\n"
        f"key{char}name: [a{char}, '{char}']\n"
        f"# comment{char}hidden: 1\n"
        f"after: {char}\\N{char}\n"
        'escapes: "\\N\\L\\P"\n'
    )
    (document,) = load([_write(tmp_path, "s.yaml", text)])
    assert document.data == {
        "double": f"next{char}line",
        "single": f"next{char}line",
        "plain": f"next{char}line",
        "block": f"next{char}line\n",
        f"key{char}name": [f"a{char}", char],
        "after": f"{char}\\N{char}",
        "escapes": "\x85\u2028\u2029",
    }
    assert document.locate(("after",)) == (8, 1)


def test_load_records_positions_of_keys_items_and_values(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "p.yaml",
        "domain: shop  # comment\nlist:\n  - one\n  - {k: v}\nflow: {a: 1, b: [x, y]}\n",
    )
    (document,) = load([path])
    assert document.locations[()] == (1, 1)
    assert document.locations[("domain",)] == (1, 1)
    assert document.value_locations[("domain",)] == (1, 9)
    assert document.locations[("list", 0)] == (3, 5)
    assert document.locations[("list", 1, "k")] == (4, 6)
    assert document.value_locations[("list", 1, "k")] == (4, 9)
    assert document.locations[("flow", "b", 1)] == (5, 21)
    assert document.locate(("flow", "b", 1, "missing", 3)) == (5, 21)
    assert document.locate(("nowhere",)) == (1, 1)
    assert document.locate_value(("flow", "a")) == (5, 11)
    assert document.error(("list", 1), "bad") == SchemaError(str(path), 4, 5, "bad")
    assert document.value_error(("domain",), "bad") == SchemaError(str(path), 1, 9, "bad")


def test_load_orders_documents_by_path(tmp_path: Path) -> None:
    _write(tmp_path, "z.yaml", "a: 1\n")
    _write(tmp_path, "m/a.yaml", "a: 1\n")
    _write(tmp_path, "a.yaml", "a: 1\n")
    names = [d.path.relative_to(tmp_path).as_posix() for d in load([tmp_path])]
    assert names == ["a.yaml", "m/a.yaml", "z.yaml"]


def test_load_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "a: 1\na: 2\n")
    _write(tmp_path, "b.yaml", b"domain: x\n\xff\xfe\n")
    _write(tmp_path, "c.yaml", "a: [1\n")
    _write(tmp_path, "d.yaml", "- 1\n")
    _write(tmp_path, "e.yaml", "a: 1\nb: 'control \x07 char'\n")
    _write(tmp_path, "f.yaml", "a: " + "9" * 5000 + "\n")
    _write(tmp_path, "g.yaml", "a: 1e999\n")
    assert _errors([tmp_path, tmp_path / "missing"]) == [
        "a.yaml:2:1: duplicate key 'a' (first defined at line 1)",
        "b.yaml:2:1: file is not UTF-8 text (byte 0xff)",
        "c.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence at line 1)",
        "d.yaml:1:1: the top level must be a mapping, not a list",
        "e.yaml:2:13: invalid character U+0007 (not allowed in YAML)",
        "f.yaml:1:4: integer has too many digits",
        "g.yaml:1:4: number 1e999 is out of range",
        "missing:1:1: no such file or directory",
    ]


def test_load_accepts_a_byte_order_mark_and_rejects_utf16(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.yaml", "\ufeffdomain: shop\n")
    assert load([path])[0].data == {"domain": "shop"}
    utf16 = _write(tmp_path, "utf16.yaml", "domain: shop\n".encode("utf-16"))
    assert _errors([utf16]) == ["utf16.yaml:1:1: file is not UTF-8 text (byte 0xff)"]


def test_load_limits_depth_size_and_alias_expansion(tmp_path: Path) -> None:
    deep = _write(tmp_path, "deep.yaml", "a: " + "[" * 500 + "]" * 500 + "\n")
    big = _write(tmp_path, "big.yaml", "a: '" + "x" * MAX_FILE_BYTES + "'\n")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
        for a, b in zip("abcdef", "bcdefg", strict=True)
    )
    bomb = _write(tmp_path, "laughs.yaml", laughs)
    errors = _errors([deep, big, bomb])
    assert errors[0] == f"big.yaml:1:1: file is too large ({MAX_FILE_BYTES + 6} bytes; " + (
        f"the limit is {MAX_FILE_BYTES})"
    )
    assert (
        errors[1] == f"deep.yaml:1:{4 + MAX_DEPTH - 1}: nesting is deeper than {MAX_DEPTH} levels"
    )
    assert errors[2].startswith("laughs.yaml:")
    assert "more than 100000 nodes once aliases are expanded" in errors[2]


def test_aliases_share_their_anchor_data(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", "x: &m {type: Decimal}\ny: *m\n*m : 1\n")
    with pytest.raises(SchemaErrors) as caught:
        load([path])
    assert [e.message for e in caught.value.errors] == ["keys must be strings, not a mapping"]
    path.write_text("x: &m {type: Decimal}\ny: *m\nz: &k key\n*k : 2\n")
    (document,) = load([path])
    assert document.data == {
        "x": {"type": "Decimal"},
        "y": {"type": "Decimal"},
        "z": "key",
        "key": 2,
    }


def test_unreadable_file_is_a_schema_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "locked.yaml", "domain: shop\n")
    real_open = os.open

    def refuse(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(name) == path:
            raise PermissionError(13, "Permission denied")
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    assert _errors([path]) == ["locked.yaml:1:1: cannot read file: Permission denied"]


VALID_SCHEMA = "domain: shop\naggregates:\n  Order:\n    events:\n      Placed: {}\n"

_SPECIAL_FILES = """
import os, sys
from pathlib import Path
from aggregen.generator.cli import main
schemas = Path(sys.argv[1])
os.mkfifo(schemas / "pipe.yaml")
(schemas / "zero.yaml").symlink_to("/dev/zero")
(schemas / "folder.yaml").mkdir()
(schemas / "folder.yaml" / "inner.yaml").write_text("domain: inner")
(schemas.parent / "elsewhere").mkdir()
(schemas / "link.yaml").symlink_to(schemas.parent / "elsewhere")
sys.exit(main([sys.argv[2], str(schemas), *sys.argv[3:]]))
"""


@pytest.mark.parametrize("command", [["validate"], ["generate", "--out", "out"], ["check"]])
def test_schema_entries_that_are_not_regular_files_are_reported_unread(
    tmp_path: Path, command: list[str]
) -> None:
    """A FIFO would hang, /dev/zero exhaust memory; directories named *.yaml are not schemas.

    Run in a child process with a time limit, so that a hang fails instead of waiting.
    """
    schemas = tmp_path / "schemas"
    _write(schemas, "shop.yaml", VALID_SCHEMA)
    if command[0] == "check":
        command = [*command, "--out", "out"]
    result = subprocess.run(
        [sys.executable, "-c", _SPECIAL_FILES, str(schemas), *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rule = "schemas are read from regular files only"
    assert result.stderr.splitlines() == [
        f"{schemas}/folder.yaml:1:1: not a regular file but a directory: {rule}",
        f"{schemas}/link.yaml:1:1: not a regular file but a directory: {rule}",
        f"{schemas}/pipe.yaml:1:1: not a regular file but a named pipe (FIFO): {rule}",
        f"{schemas}/zero.yaml:1:1: not a regular file but a character device: {rule}",
        "aggregen: 4 error(s)" + ("; nothing written" if command[0] == "generate" else ""),
    ]
    assert result.returncode == 1
    assert not (tmp_path / "out").exists()


def test_a_file_larger_than_the_limit_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused by its size before reading; one that grows is read no further than the limit."""
    big = _write(tmp_path, "big.yaml", b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(SchemaErrors, match="file is too large"):
        discover([big])
    real_fstat = os.fstat

    def smaller(descriptor: int) -> os.stat_result:  # the file grew after its size was read
        status = list(real_fstat(descriptor))
        status[stat.ST_SIZE] = 10
        return os.stat_result(status)

    monkeypatch.setattr(os, "fstat", smaller)
    reads: list[int] = []
    real_read = os.read

    def counted(descriptor: int, size: int) -> bytes:
        data = real_read(descriptor, size)
        reads.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counted)
    document, errors = load_file(big)
    assert document is None
    assert [e.message for e in errors] == [
        f"file is too large (more than the limit of {MAX_FILE_BYTES} bytes)"
    ]
    assert sum(reads) == MAX_FILE_BYTES + 1


# -- nothing but SchemaErrors, whatever the input ---------------------------------------

_KEYS = st.sampled_from(
    [
        "domain",
        "aggregates",
        "value_objects",
        "enums",
        "fields",
        "events",
        "commands",
        "type",
        "of",
        "values",
        "default",
        "min",
        "max",
        "min_length",
        "max_length",
        "pattern",
        "identifier",
        "maps",
        "event",
        "creates",
        "category",
        "version",
        "Order",
        "Placed",
        "Money",
        "id",
        "total",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        [
            *("String", "Integer", "Decimal", "Date", "Enum", "List", "Money", "Order"),
            *("Placed", "shop", "2024-01-01", "1.5", "[a-", "x" * 30, "", "id", "class"),
        ]
    ),
    st.text(max_size=8),
)
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(_KEYS, st.text(max_size=6)), children, max_size=5),
    ),
    max_leaves=40,
)


def _check(directory: Path, content: str | bytes) -> None:
    path = _write(directory, "fuzz.yaml", content)
    try:
        documents = load_and_validate([path])
    except SchemaErrors as exc:
        errors = exc.errors
    else:
        assert all(isinstance(d, SchemaDocument) for d in documents)
        return
    assert errors
    for error in errors:
        assert error.line >= 1
        assert error.column >= 1
        assert error.message


_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_schema_errors(tmp_path: Path, data: bytes) -> None:
    _check(tmp_path, data)


@_FUZZ
@given(st.text(alphabet=string.printable + "\x00\x85\u2028\ufeff&*!|>%@`{}[]:-?#", max_size=200))
def test_random_text_never_raises_anything_but_schema_errors(tmp_path: Path, text: str) -> None:
    _check(tmp_path, text)


@_FUZZ
@given(st.dictionaries(_KEYS, _TREES, max_size=6))
def test_random_yaml_structures_never_raise(tmp_path: Path, tree: dict[str, Any]) -> None:
    _check(tmp_path, yaml.safe_dump(tree, sort_keys=False))


_NAMES = st.sampled_from(["Order", "Money", "Placed", "Currency", "order", "Id", "String"])
_FIELD_TYPES = st.sampled_from(
    [
        *("String", "Text", "Integer", "Float", "Decimal", "Boolean", "Date", "DateTime"),
        *("Identifier", "Enum", "List", "Money", "Currency", "Order", "Nope"),
    ]
)
_OPTIONS = st.fixed_dictionaries(
    {"type": _FIELD_TYPES},
    optional={
        "default": _SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(_KEYS, _SCALARS),
        "min": st.integers(-5, 5) | st.floats(-5, 5),
        "max": st.integers(-5, 5),
        "min_length": st.integers(0, 5),
        "max_length": st.integers(0, 5),
        "pattern": st.sampled_from(["[a-z]+", "[a-", "(x"]),
        "values": st.lists(
            st.sampled_from(["a", "b", "in progress", "in-progress", "!"]), min_size=1
        ),
        "of": _FIELD_TYPES | st.fixed_dictionaries({"type": _FIELD_TYPES}),
        "identifier": st.booleans(),
        "required": st.booleans(),
    },
)
_FIELDS = st.dictionaries(
    st.sampled_from(["id", "total", "name", "type", "tags"]), _OPTIONS | _FIELD_TYPES, max_size=4
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    aggregate_fields=_FIELDS,
    event_fields=_FIELDS,
    value_object_fields=_FIELDS,
    aggregate=_NAMES,
    event=_NAMES,
    maps=st.dictionaries(
        st.sampled_from(["total", "name", "nope"]),
        st.none() | st.sampled_from(["total", "tags", "x"]),
        max_size=2,
    ),
    command_event=_NAMES,
)
def test_random_schema_like_documents_never_raise(
    tmp_path: Path,
    aggregate_fields: dict[str, Any],
    event_fields: dict[str, Any],
    value_object_fields: dict[str, Any],
    aggregate: str,
    event: str,
    maps: dict[str, Any],
    command_event: str,
) -> None:
    document = {
        "domain": "shop",
        "value_objects": {"Money": {"fields": value_object_fields or {"amount": "Decimal"}}},
        "enums": {"Currency": {"values": ["EUR", "USD"]}},
        "aggregates": {
            aggregate: {
                "fields": aggregate_fields,
                "events": {event: {"fields": event_fields, "maps": maps}},
                "commands": {"do": {"event": command_event}},
            }
        },
    }
    path = _write(tmp_path, "fuzz.yaml", yaml.safe_dump(document, sort_keys=False))
    try:
        documents = load([path])
    except SchemaErrors:
        return
    errors = validate(documents)
    assert errors == sorted(errors)
