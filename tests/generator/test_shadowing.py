"""Schema names never shadow what generated code refers to.

Regressions found by the property tests (tests/reliability/): names of fields and
commands that hid a runtime helper or a decorator, and defaults that used a name
their module did not import. Each schema here generates, imports and runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregen.generator import pipeline
from aggregen.generator.errors import SchemaErrors
from aggregen.runtime import InMemoryEventStore

from .support import importable, working_directory


def _generate(tmp_path: Path, schema: dict[str, Any]) -> Path:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    with working_directory(tmp_path):
        pipeline.generate(["s.yaml"], out)
    return out


def test_a_field_named_like_a_runtime_helper_does_not_shadow_it(tmp_path: Path) -> None:
    schema = {
        "domain": "shadow_helper",
        "aggregates": {
            "Thing": {
                "fields": {"code": {"type": "String", "identifier": True}},
                "events": {
                    "Done": {
                        "fields": dict.fromkeys(
                            ("check_value", "check", "raise_errors", "errors"), "String"
                        )
                    }
                },
                "commands": {"make": {"event": "Done", "creates": True}},
            }
        },
    }
    out = _generate(tmp_path, schema)
    with importable(out, ["shadow_helper"]):
        module = importlib.import_module("shadow_helper")
        thing = module.Thing.make(code="c1", check_value="v", check="w", raise_errors="x")
        assert thing.code == "c1"
        repository = module.ThingRepository(InMemoryEventStore())
        repository.add(thing)
        assert repository.get("c1").code == "c1"


def test_classes_may_take_the_names_of_validation_rules(tmp_path: Path) -> None:
    schema = {
        "domain": "rule_names",
        "enums": {"TextRule": {"values": ["a"]}},
        "value_objects": {"ValidationError": {"fields": {"rule": "TextRule"}}},
        "aggregates": {
            "IntegerRule": {
                "events": {"ListRule": {"fields": {"error": "ValidationError"}}},
                "commands": {"make": {"event": "ListRule", "creates": True}},
            }
        },
    }
    out = _generate(tmp_path, schema)
    with importable(out, ["rule_names"]):
        module = importlib.import_module("rule_names")
        error = module.ValidationError(rule=module.TextRule.A)
        assert module.IntegerRule.make(error=error).pending_events[0].error == error


@pytest.mark.parametrize("name", ["classmethod", "staticmethod", "property", "self", "cls"])
@pytest.mark.parametrize(
    "where",
    ["command", "event field", "value object field", "aggregate field"],
)
def test_names_class_bodies_use_are_reserved_with_a_position(
    tmp_path: Path, name: str, where: str
) -> None:
    thing: dict[str, Any] = {
        "events": {"Done": {}},
        "commands": {"make": {"event": "Done", "creates": True}},
    }
    schema: dict[str, Any] = {"domain": "reserved_decorators", "aggregates": {"Thing": thing}}
    if where == "command":
        thing["commands"] = {name: {"event": "Done"}, **thing["commands"]}
    elif where == "event field":
        thing["events"]["Done"]["fields"] = {name: "String"}
    elif where == "aggregate field":
        thing["fields"] = {name: "String"}
    else:
        schema["value_objects"] = {"Note": {"fields": {name: "String"}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema, sort_keys=False), encoding="utf-8")
    with working_directory(tmp_path), pytest.raises(SchemaErrors) as caught:
        pipeline.build(["s.yaml"])
    kind = "command" if where == "command" else "field"
    assert "s.yaml:" in str(caught.value)
    assert f"{kind} name {name!r} is reserved by aggregen" in str(caught.value)


def test_a_value_object_default_imports_the_enums_inside_it(tmp_path: Path) -> None:
    schema = {
        "domain": "nested_default",
        "enums": {"Mood": {"values": ["happy", "sad"]}},
        "value_objects": {
            "Inner": {"fields": {"mood": "Mood"}},
            "Note": {"fields": {"mood": "Mood", "inner": "Inner"}},
        },
        "aggregates": {
            "Thing": {
                "fields": {"note": "Note"},
                "events": {
                    "Done": {
                        "fields": {
                            "note": {
                                "type": "Note",
                                "default": {"mood": "sad", "inner": {"mood": "happy"}},
                            },
                            "notes": {
                                "type": "List",
                                "of": "Note",
                                "default": [{"mood": "happy"}],
                            },
                        }
                    }
                },
                "commands": {"make": {"event": "Done", "creates": True}},
            }
        },
    }
    out = _generate(tmp_path, schema)
    with importable(out, ["nested_default"]):
        module = importlib.import_module("nested_default")
        thing = module.Thing.make()
        assert thing.note.mood is module.Mood.SAD
        assert thing.note.inner.mood is module.Mood.HAPPY
        assert thing.pending_events[0].notes[0].mood is module.Mood.HAPPY


def test_enums_with_the_same_values_in_another_order_copy(tmp_path: Path) -> None:
    schema = {
        "domain": "enum_order",
        "aggregates": {
            "Thing": {
                "fields": {
                    "state": {"type": "Enum", "values": ["on", "off"]},
                    "states": {"type": "List", "of": {"type": "Enum", "values": ["on", "off"]}},
                },
                "events": {
                    "Done": {
                        "fields": {
                            "state": {"type": "Enum", "values": ["off", "on"]},
                            "states": {
                                "type": "List",
                                "of": {"type": "Enum", "values": ["off", "on"]},
                            },
                        }
                    }
                },
                "commands": {"make": {"event": "Done", "creates": True}},
            }
        },
    }
    out = _generate(tmp_path, schema)
    with importable(out, ["enum_order"]):
        module = importlib.import_module("enum_order")
        thing = module.Thing.make(state="off", states=["on"])
        assert (thing.state, thing.states) == ("off", ["on"])
