"""Every attack string in every free-string position comes back from the generated code as data.

tests/generator/test_injection.py puts its corpus into events, one string per event;
here each string of the larger `strategies.ATTACKS` corpus fills at once every place
that takes free text (descriptions of the domain, aggregate, fields, events,
commands, value objects and enums; String, Text, List, value object and named enum
defaults; inline and named enum values; wire type names), the YAML written with raw
unicode, and the values are read back from the imported package. Categories take
only `[A-Za-z][A-Za-z0-9_]*`, so there the hostile values are Python keywords,
builtins and long names.
"""

from __future__ import annotations

import importlib
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregen.generator import pipeline
from aggregen.generator.naming import enum_member_name
from aggregen.runtime import InMemoryEventStore

from ..generator.support import importable, working_directory
from .strategies import ATTACKS, yaml_text


def _normal(text: str) -> str:
    """Text without whitespace: docstrings wrap long words and drop blank lines."""
    return "".join(text.split())


def stored(attack: str) -> str:
    """`attack` as a stored position takes it: with `\\x00` for a NUL, which no store holds.

    A NUL in a default, an enum value or a wire type name is a schema error
    (tests/generator/invalid/unstorable_text.yaml); descriptions keep it.
    """
    return attack.replace("\x00", "\\x00")


def _schema(package: str, text: str) -> tuple[dict[str, Any], list[str]]:
    attack = stored(text)
    members = [f"first {attack}", f"second {attack}"]
    if enum_member_name(attack) not in ("", "FIRST", "SECOND", *map(enum_member_name, members)):
        members.append(attack)
    choice = {"type": "Enum", "values": [attack, "plain"], "default": attack}
    schema = {
        "domain": package,
        "description": text,
        "enums": {"Mood": {"description": text, "values": members}},
        "value_objects": {
            "Note": {
                "description": text,
                "fields": {
                    "body": {"type": "Text", "default": attack, "description": text},
                    "tags": {"type": "List", "of": "String", "default": [attack, attack]},
                    "mood": {"type": "Mood", "default": members[-1]},
                },
            }
        },
        "aggregates": {
            "Target": {
                "description": text,
                "fields": {
                    "text": {"type": "String", "default": attack, "description": text},
                    "mood": {"type": "Mood", "default": members[0], "description": text},
                    "choice": choice,
                    "note": {"type": "Note", "default": {"body": attack}},
                },
                "events": {
                    "Happened": {
                        "type": attack,
                        "description": text,
                        "fields": {
                            "text": {"type": "Text", "default": attack, "description": text},
                            "choice": choice,
                            "note": {"type": "Note", "required": True},
                        },
                    },
                    "Other": {"type": f"{attack}2", "description": text},
                },
                "commands": {
                    "create": {"event": "Happened", "creates": True, "description": text},
                    "touch": {"event": "Other", "description": text},
                },
            }
        },
    }
    return schema, members


@pytest.mark.parametrize("index", range(len(ATTACKS)))
def test_an_attack_string_in_every_position_round_trips(tmp_path: Path, index: int) -> None:
    text = ATTACKS[index]
    attack = stored(text)
    package = f"attacked{index}"
    schema, members = _schema(package, text)
    (tmp_path / "attack.yaml").write_text(yaml_text(schema, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    with working_directory(tmp_path):
        pipeline.generate(["attack.yaml"], out)
    for path in sorted(out.rglob("*.py")):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    with importable(out, [package]):
        module = importlib.import_module(package)
        base = importlib.import_module(f"{package}.target_base")
        happened, other = module.Happened, module.Other
        assert happened.__type_name__ == attack
        assert other.__type_name__ == f"{attack}2"
        assert [m.value for m in module.Mood] == members
        note = module.Note()
        assert (note.body, note.tags, note.mood) == (attack, (attack, attack), members[-1])
        hints = typing.get_type_hints(happened, vars(base))
        assert typing.get_args(hints["choice"]) == (attack, "plain")
        target = module.Target.create(note=module.Note(body=attack))
        event = target.pending_events[0]
        assert (event.text, event.choice, event.note.body) == (attack, attack, attack)
        assert happened.from_data(event.to_data(), event.metadata) == event
        target.touch()
        repository = module.TargetRepository(InMemoryEventStore())
        repository.add(target)
        again = repository.get(target.id)
        assert (again.text, again.choice, again.note) == (attack, attack, module.Note(body=attack))
        assert again.mood is module.Mood(members[0])
        fresh = module.Target()
        assert (fresh.text, fresh.choice, fresh.note.body) == (attack, attack, attack)
        wanted = _normal(text)
        documented = [
            module.__doc__,
            module.Mood.__doc__,
            module.Note.__doc__,
            base.TargetBase.__doc__,
            happened.__doc__,
            other.__doc__,
            module.Target.create.__doc__,
            module.Target.touch.__doc__,
        ]
        for doc in documented:
            assert wanted in _normal(doc or ""), doc


@pytest.mark.parametrize(
    "category",
    ["class", "None", "True", "import", "print", "import__x", "os_system", "x" * 300, "A_b_9"],
)
def test_hostile_but_valid_categories_round_trip(tmp_path: Path, category: str) -> None:
    package = "categorized"
    schema = {
        "domain": package,
        "aggregates": {
            "Thing": {"category": category, "events": {"Done": {}}},
            "Other": {
                "events": {"Went": {}},
                "commands": {"go": {"event": "Went", "creates": True}},
            },
        },
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema), encoding="utf-8")
    with working_directory(tmp_path):
        pipeline.generate(["s.yaml"], tmp_path / "out")
    with importable(tmp_path / "out", [package]):
        module = importlib.import_module(package)
        assert module.Thing.category() == category
        assert module.Thing.stream_name("x1") == f"{category}-x1"
        assert module.Other.category() == "other"
