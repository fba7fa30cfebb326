"""Validate: the JSON Schema, the case directory of invalid schemas, a rich valid schema.

Each case in `tests/generator/invalid/` is `NAME.yaml` (or a directory `NAME/` of
schema files) with `NAME.expected`: the exact `path:line:col: message` lines that
`load_and_validate` reports, paths relative to the case directory. After changing a
message on purpose, rewrite the expected files with

    AGGREGEN_UPDATE_EXPECTED=1 .venv/bin/pytest tests/generator/test_validate.py

and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from aggregen.generator import pipeline
from aggregen.generator.docs import write_docs
from aggregen.generator.errors import SchemaError, SchemaErrors
from aggregen.generator.load import load
from aggregen.generator.validate import (
    BUILTIN_TYPES,
    GENERATOR_IMPORTS,
    RESERVED_DOMAIN_NAMES,
    RUNTIME_IMPORTS,
    ecma_regex,
    json_schema,
    load_and_validate,
    validate,
)

HERE = Path(__file__).parent
INVALID = HERE / "invalid"
SCHEMA_FILE = HERE.parent.parent / "aggregen" / "schema.json"
UPDATE = os.environ.get("AGGREGEN_UPDATE_EXPECTED") == "1"

VALID = """\
# yaml-language-server: $schema=../../aggregen/schema.json
format: 1
domain: banking
description: Accounts, money and the people who own them.
value_objects:
  Money:
    description: An amount in a currency.
    fields:
      amount: {type: Decimal, required: true, min: 0, default: "0.00"}
      currency: {type: Currency, required: true, default: EUR}
  Address:
    fields:
      street: {type: String, max_length: 200}
      postcode: {type: String, pattern: "[0-9]{5}", default: "10115"}
      lines: {type: List, of: {type: Text, max_length: 80}}
  Contact:
    fields:
      address: Address
      previous: {type: List, of: Address}
      home: {type: Address, default: {street: Main Street 1}}
enums:
  Currency:
    description: ISO 4217 codes we support.
    values: [EUR, USD, GBP]
  Tier:
    values: [basic, "premium plus", no]
aggregates:
  BankAccount:
    description: A customer's account.
    category: account
    snapshot_threshold: 50
    fields:
      number: {type: String, identifier: true, min_length: 8, max_length: 34}
      owner_name: {type: String, required: true, max_length: 100}
      balance: {type: Money, default: {amount: "0", currency: EUR}}
      overdraft_limit: {type: Integer, min: 0, max: 100000, default: 0}
      interest_rate: {type: Float, min: 0.0, max: 1.0, default: 0.01}
      active: {type: Boolean, default: true}
      opened_on: {type: Date, default: 2024-01-01}
      closed_at: DateTime
      status: {type: Enum, values: [open, frozen, closed], default: open}
      tier: {type: Tier, default: basic}
      tags: {type: List, of: String, default: [vip]}
      notes: Text
      contact: Contact
      holder_id: Identifier
      limit: {type: Decimal, min: 0, max: 1000000.5, default: "2500.00"}
    events:
      Opened:
        description: The account was opened.
        fields:
          number: {type: String, required: true}
          owner_name: {type: String, required: true}
          opened_on: {type: Date, required: true}
          tier: Tier
      Deposited:
        type: MoneyDeposited
        version: 2
        fields:
          amount: {type: Money, required: true}
        maps:
          amount: balance
      Renamed:
        fields:
          new_name: String
          reason: Text
        maps:
          new_name: owner_name
          reason: null
      Closed:
        fields:
          closed_at: {type: DateTime, required: true, default: "2024-01-01T12:00:00+00:00"}
          status: {type: Enum, values: [open, frozen, closed]}
    commands:
      open: {event: Opened, creates: true, description: Open a new account.}
      deposit: {event: Deposited}
      rename: {event: Renamed}
      close: {event: Closed}
  Customer:
    fields:
      name: {type: String, required: true}
      accounts: {type: List, of: Identifier, default: []}
      visits: {type: List, of: {type: List, of: Date}}
      visit_count: {type: Integer, identifier: true}
    events:
      Registered:
        fields:
          name: String
    commands:
      register: {event: Registered, creates: true}
"""


def _cases() -> list[str]:
    return sorted(path.stem for path in INVALID.glob("*.expected"))


def _report(case: str) -> str:
    target = Path(case) if (INVALID / case).is_dir() else Path(f"{case}.yaml")
    try:
        load_and_validate([target])
    except SchemaErrors as exc:
        return "".join(f"{error}\n" for error in exc.errors)
    return ""


def test_every_case_file_has_an_expected_file() -> None:
    inputs = {p.stem for p in INVALID.glob("*.yaml")} | {
        p.name for p in INVALID.iterdir() if p.is_dir()
    }
    assert inputs == set(_cases())
    assert len(inputs) >= 25


@pytest.mark.parametrize("case", _cases())
def test_invalid_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(INVALID)
    report = _report(case)
    expected_file = INVALID / f"{case}.expected"
    if UPDATE:
        expected_file.write_text(report, encoding="utf-8")
    assert report, f"{case}: no error reported"
    assert report == expected_file.read_text(encoding="utf-8"), (
        f"{case}: the report differs from {expected_file.name}; if the change is intended, "
        "run AGGREGEN_UPDATE_EXPECTED=1 .venv/bin/pytest tests/generator/test_validate.py"
    )


def test_rich_valid_schema_passes(tmp_path: Path) -> None:
    path = tmp_path / "banking.yaml"
    path.write_text(VALID, encoding="utf-8")
    documents = load_and_validate([tmp_path])
    assert [d.path for d in documents] == [path]
    data = documents[0].data
    assert data["aggregates"]["BankAccount"]["fields"]["opened_on"]["default"] == "2024-01-01"
    assert data["enums"]["Tier"]["values"] == ["basic", "premium plus", "no"]
    types = _types_used(data)
    assert set(BUILTIN_TYPES) <= types
    assert {"Money", "Currency", "Address", "Contact", "Tier"} <= types


def _types_used(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("fields",) and isinstance(value, dict):
                for spec in value.values():
                    found |= _type_names(spec)
            found |= _types_used(value)
    elif isinstance(node, list):
        for item in node:
            found |= _types_used(item)
    return found


def _type_names(spec: object) -> set[str]:
    if isinstance(spec, str):
        return {spec}
    if isinstance(spec, dict):
        return {str(spec["type"])} | (_type_names(spec["of"]) if "of" in spec else set())
    return set()


def test_validate_returns_sorted_errors_across_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("domain: shop\naggregates: {A: {events: {}}}\n")
    (tmp_path / "a.yaml").write_text("domain: shop\naggregates: {b: {events: {E: {}}}}\n")
    errors = validate(load([tmp_path]))
    assert errors == sorted(errors)
    assert [(Path(e.path).name, e.line, e.column) for e in errors] == [
        ("a.yaml", 2, 14),
        ("b.yaml", 1, 9),
        ("b.yaml", 2, 26),
    ]
    assert all(isinstance(e, SchemaError) for e in errors)


def test_valid_documents_give_no_errors(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(
        "domain: shop\naggregates:\n  Order:\n    events:\n      Placed: {}\n"
    )
    assert validate(load([tmp_path])) == []
    assert validate([]) == []


def test_json_schema_is_a_valid_2020_12_schema() -> None:
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    json_schema()["title"] = "changed"
    assert json_schema()["title"] == schema["title"]


def _objects(node: object, where: str = "#") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append((where, node))
        for key, value in node.items():
            found += _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _objects(value, f"{where}/{index}")
    return found


def test_json_schema_closes_every_object_and_documents_every_property() -> None:
    objects = _objects(json_schema())
    assert len(objects) >= 9
    for where, node in objects:
        assert node.get("additionalProperties") is False, where
        properties = node["properties"]
        assert isinstance(properties, dict)
        for name, spec in properties.items():
            assert isinstance(spec, dict)
            if "$ref" not in spec:
                assert spec.get("description"), f"{where}/{name} has no description"


def test_json_schema_accepts_the_valid_schema(tmp_path: Path) -> None:
    path = tmp_path / "banking.yaml"
    path.write_text(VALID, encoding="utf-8")
    (document,) = load([path])
    assert list(Draft202012Validator(json_schema()).iter_errors(document.data)) == []


def test_the_longest_names_validate_accepts_are_generated(tmp_path: Path) -> None:
    """Every file name of a domain and aggregate of the longest valid names fits (255 bytes)."""
    domain, aggregate = "d" * 252, "B" + "b" * 241
    schema = tmp_path / "long.yaml"
    schema.write_text(
        f"domain: {domain}\naggregates:\n  {aggregate}:\n    events:\n      Made: {{}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    report = pipeline.generate([schema], out)
    assert f"{domain}/{aggregate.lower()}_behavior.py" in report.scaffolds_created
    assert pipeline.check([schema], out).ok
    write_docs(load_and_validate([schema]), tmp_path / "docs")
    assert (tmp_path / "docs" / f"{domain}.md").is_file()


PATTERN_SAMPLES = {
    "^[a-z][a-z0-9_]*$(?!\\n)": "user_1",
    "^[A-Z][A-Za-z0-9]*$(?!\\n)": "User1",
    "^[A-Za-z][A-Za-z0-9_]*$(?!\\n)": "user_1",
}
"""A text each pattern of aggregen/schema.json accepts (a new pattern needs one here)."""


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_no_pattern_accepts_a_final_newline() -> None:
    """Neither in the JSON Schema (any Python validator) nor in aggregen's own validator."""
    patterns = set(_patterns(json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))))
    assert patterns == set(PATTERN_SAMPLES)
    for pattern, sample in PATTERN_SAMPLES.items():
        plain = Draft202012Validator({"type": "string", "pattern": pattern})
        assert plain.is_valid(sample)
        assert not plain.is_valid(sample + "\n"), pattern
        without_guard = pattern.removesuffix("(?!\\n)")
        assert ecma_regex(without_guard).search(sample)
        assert ecma_regex(without_guard).search(sample + "\n") is None, without_guard


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),
        ("^a\\$", "a$", True),
        ("^[$]$", "$", True),
        ("^[]$]+$", "]$", True),
        ("^[^]$]$", "x", True),
        ("^[^]$]$", "$", False),
        ("^(a|b$)", "b\n", False),
    ],
)
def test_ecma_regex_reads_dollar_as_the_end(pattern: str, text: str, matches: bool) -> None:
    assert (ecma_regex(pattern).search(text) is not None) is matches


_LIST_IMPORTS = """
import importlib, pkgutil, sys
import aggregen.generator, aggregen.runtime
from aggregen.generator.format import format_source
def top_level():
    return {
        name.split(".")[0]
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None) and "." not in name
    }
for info in pkgutil.iter_modules(aggregen.runtime.__path__):
    importlib.import_module("aggregen.runtime." + info.name)
runtime = top_level()
for info in pkgutil.iter_modules(aggregen.generator.__path__):
    importlib.import_module("aggregen.generator." + info.name)
import black, jinja2, jsonschema, yaml
format_source("x = ( 1, )\\n")
print(" ".join(sorted(runtime)))
print(" ".join(sorted(top_level() - runtime)))
"""


def test_every_module_the_runtime_or_generator_imports_is_a_reserved_domain_name() -> None:
    """A domain of that name, with the output on `sys.path`, would be imported instead."""
    result = subprocess.run(
        [sys.executable, "-c", _LIST_IMPORTS], capture_output=True, text=True, check=True
    )
    runtime, generator = (set(line.split()) for line in result.stdout.splitlines())
    package_name = re.compile(r"[a-z][a-z0-9_]*(?<!__mypyc)")  # not black's compiled helpers
    stdlib = set(sys.stdlib_module_names)
    runtime = {n for n in runtime if package_name.fullmatch(n) and n not in stdlib}
    generator = {n for n in generator if package_name.fullmatch(n) and n not in stdlib}
    assert runtime - {"aggregen"} <= RUNTIME_IMPORTS
    assert {"orjson", "psycopg"} <= runtime
    assert generator <= GENERATOR_IMPORTS | RUNTIME_IMPORTS
    assert {"yaml", "jinja2", "jsonschema", "black"} <= generator
    assert {"aggregen", *runtime, *generator} <= RESERVED_DOMAIN_NAMES
