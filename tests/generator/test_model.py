"""Generated names never clash: validate (and, behind it, the model stage) reports the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregen.generator import pipeline
from aggregen.generator.errors import SchemaErrors
from aggregen.generator.model import natural_key, sorted_names
from aggregen.generator.naming import docstring, enum_member_name, snake_case

from .support import working_directory


def aggregate(
    events: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    commands: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"events": events or {"Done": {}}, "fields": fields or {}, "commands": commands or {}}


CLASHES: dict[str, tuple[dict[str, Any], str]] = {
    "aggregate_module_named_values": (
        {"domain": "d", "enums": {"E": {"values": ["a"]}}, "aggregates": {"Values": aggregate()}},
        "s.yaml:7:3: aggregate 'Values' would generate module 'values', the module of the domain's",
    ),
    "aggregate_named_like_a_base_class": (
        {"domain": "d", "aggregates": {"Foo": aggregate(), "FooBase": aggregate({"Other": {}})}},
        "s.yaml:8:3: aggregate name 'FooBase' is the base class of aggregate 'Foo'",
    ),
    "value_object_named_like_a_repository": (
        {
            "domain": "d",
            "value_objects": {"OrderRepository": {"fields": {"x": "String"}}},
            "aggregates": {"Order": aggregate()},
        },
        "s.yaml:3:3: value object name 'OrderRepository' is the repository of aggregate 'Order'",
    ),
    "event_named_like_an_async_repository": (
        {"domain": "d", "aggregates": {"A": aggregate({"AsyncARepository": {}})}},
        "s.yaml:5:7: event name 'AsyncARepository' is the async repository of aggregate 'A'",
    ),
    "enum_named_like_an_async_handler": (
        {
            "domain": "d",
            "enums": {"AsyncAHandler": {"values": ["a"]}},
            "aggregates": {"A": aggregate()},
        },
        "s.yaml:3:3: enum name 'AsyncAHandler' is the async event handler of aggregate 'A'",
    ),
    "one_event_name_in_two_aggregates": (
        {"domain": "d", "aggregates": {"A": aggregate(), "B": aggregate()}},
        "s.yaml:10:7: event 'Done' is also an event of aggregate 'A'",
    ),
    "apply_methods_of_similar_event_names": (
        {"domain": "d", "aggregates": {"A": aggregate({"HTTPDone": {}, "HttpDone": {}})}},
        "event 'HttpDone' would get the apply method 'apply_http_done' of event 'HTTPDone'",
    ),
    "field_named_like_an_apply_method": (
        {"domain": "d", "aggregates": {"A": aggregate(fields={"apply_done": "String"})}},
        "s.yaml:7:7: field name 'apply_done' is the apply method of event 'Done'",
    ),
    "event_field_named_like_a_runtime_method": (
        {"domain": "d", "aggregates": {"A": aggregate({"Done": {"fields": {"upcast": "String"}}})}},
        "s.yaml:7:11: field name 'upcast' is reserved in events",
    ),
    "event_named_like_the_base_class": (
        {"domain": "d", "aggregates": {"A": aggregate({"ABase": {}})}},
        "s.yaml:5:7: event name 'ABase' is the base class of aggregate 'A'",
    ),
}


def _build(tmp_path: Path, schema: dict[str, Any]) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
    with working_directory(tmp_path):
        pipeline.build(["s.yaml"])


@pytest.mark.parametrize("case", sorted(CLASHES))
def test_clashing_names_are_schema_errors_with_a_position(tmp_path: Path, case: str) -> None:
    schema, expected = CLASHES[case]
    with pytest.raises(SchemaErrors) as caught:
        _build(tmp_path, schema)
    text = str(caught.value)
    assert expected in text
    assert all(str(e).startswith("s.yaml:") for e in caught.value.errors)


def test_an_identifier_event_field_of_another_type_is_refused(tmp_path: Path) -> None:
    schema = {
        "domain": "d",
        "aggregates": {
            "A": {
                "fields": {"code": {"type": "Integer", "identifier": True}},
                "events": {"Made": {"fields": {"code": "String"}}},
                "commands": {"make": {"event": "Made", "creates": True}},
            }
        },
    }
    with pytest.raises(SchemaErrors, match="code"):
        _build(tmp_path, schema)


def test_snake_case_and_enum_member_names() -> None:
    assert snake_case("BankAccount") == "bank_account"
    assert snake_case("HTTPServer") == "http_server"
    assert snake_case("Event2Done") == "event2_done"
    assert enum_member_name("dark blue") == "DARK_BLUE"
    assert enum_member_name("3d") == "V_3D"
    assert enum_member_name('"""') == ""


def test_docstrings_escape_quotes_backslashes_and_control_characters() -> None:
    text = docstring('a """quote""" \\ and \x00 and \u2028 end\\')
    assert '"""' not in text[3:-3]
    assert compile(f"x = {text}", "<test>", "exec")
    namespace: dict[str, Any] = {}
    exec(f"x = {text}", namespace)
    assert namespace["x"] == 'a """quote""" \\ and \x00 and \u2028 end\\'


def test_names_sort_like_isort_and_ruff() -> None:
    assert sorted_names(["check", "TextRule", "MAX", "Event10", "Event2", "raise_errors"]) == (
        "MAX",
        "Event2",
        "Event10",
        "TextRule",
        "check",
        "raise_errors",
    )
    assert natural_key("A") < natural_key("a")
