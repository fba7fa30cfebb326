"""No string in a schema can inject code.

Attack strings go into every position that takes free text (descriptions, defaults,
enum values, wire type names, patterns, the schema's file name); the output must
compile, import, pass ruff and give the strings back unchanged as data. Names and
categories that would inject are refused by validation.
"""

from __future__ import annotations

import importlib
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregen.generator import pipeline
from aggregen.generator.errors import SchemaErrors
from aggregen.runtime import InMemoryEventStore

from .support import importable, ruff_check, working_directory

ATTACKS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\'",
    'end\\"""',
    "line\nbreak",
    "carriage\r\nreturn",
    '"""; import os; os.system("x") #',
    "'''; import os; os.system('x') #",
    '"); import os; os.system("x") #',
    "{{ 7 * 7 }}",
    "{% if true %}x{% endif %}",
    "{# comment #}",
    "line\u2028separator",
    "paragraph\u2029separator",
    "nul\x00byte",
    "tab\tand\x0bvertical",
    "next\x85line",
    "bom\ufeffinside",
    "\\N{BULLET} \\u2028 \\x00",
    "# not a comment",
    "é ✓ 漢字 🙂",
    "trailing backslash \\",
]

PACKAGE = "injected"

STORED = [attack.replace("\x00", "\\x00") for attack in ATTACKS]
"""The attacks as stored positions (defaults, enum values, wire type names) take them:
a NUL is `\\x00` there, since no store holds one (a schema error, see
tests/generator/invalid/unstorable_text.yaml); descriptions keep every attack."""

# Named enum values name their members, so each needs letters of its own.
MEMBER_VALUES = [f"v{index} {attack}" for index, attack in enumerate(STORED)]


def _schema() -> dict[str, Any]:
    events: dict[str, Any] = {}
    for index, attack in enumerate(ATTACKS):
        value = STORED[index]
        events[f"Happened{index}"] = {
            "type": value,
            "description": attack,
            "fields": {
                "text": {"type": "String", "default": value, "description": attack},
                "choice": {"type": "Enum", "values": STORED, "default": value},
                "matched": {"type": "String", "pattern": re.escape(value)},
            },
        }
    return {
        "domain": PACKAGE,
        "description": "\n".join(ATTACKS),
        "enums": {"Attack": {"description": ATTACKS[9], "values": MEMBER_VALUES}},
        "value_objects": {
            "Note": {
                "description": ATTACKS[10],
                "fields": {"body": {"type": "String", "default": STORED[9]}},
            }
        },
        "aggregates": {
            "Target": {
                "description": ATTACKS[9],
                "fields": {
                    "text": {"type": "String", "default": STORED[9], "description": ATTACKS[2]},
                    "kind": {"type": "Attack", "default": MEMBER_VALUES[9]},
                    "note": {"type": "Note"},
                },
                "events": events,
                "commands": {
                    f"do_{index}": {"event": f"Happened{index}", "description": attack}
                    for index, attack in enumerate(ATTACKS)
                }
                | {"create": {"event": "Happened0", "creates": True, "description": ATTACKS[9]}},
            }
        },
    }


def _normal(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("injection")
    schema = directory / "attack.yaml"
    text = yaml.safe_dump(_schema(), allow_unicode=False, sort_keys=False)
    schema.write_text(text, encoding="utf-8")
    out = directory / "out"
    with working_directory(directory):
        pipeline.generate(["attack.yaml"], out)
    with importable(out, [PACKAGE]):
        module = importlib.import_module(PACKAGE)
        yield module, out


def test_the_output_compiles_and_passes_ruff(injected: Any) -> None:
    _, out = injected
    for path in sorted(Path(out).rglob("*.py")):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    result = ruff_check([out])
    assert result.returncode == 0, result.stdout + result.stderr


def test_wire_type_names_and_docstrings_round_trip(injected: Any) -> None:
    module, _ = injected
    target = module.Target
    for index, attack in enumerate(ATTACKS):
        event = getattr(module, f"Happened{index}")
        assert event.__type_name__ == STORED[index]
        assert target.__events__[STORED[index]] is event
        assert _normal(attack) in _normal(event.__doc__)
        assert _normal(attack) in _normal(getattr(target, f"do_{index}").__doc__)
    assert _normal("\n".join(ATTACKS)) in _normal(module.__doc__ or "")


def test_defaults_and_enum_values_round_trip(injected: Any) -> None:
    module, _ = injected
    assert [member.value for member in module.Attack] == MEMBER_VALUES
    assert module.Note().body == STORED[9]
    for index, attack in enumerate(STORED):
        event_class = getattr(module, f"Happened{index}")
        event = event_class(matched=attack)
        assert event.text == attack
        assert event.choice == attack
        hints = typing.get_type_hints(
            event_class, vars(importlib.import_module(event_class.__module__))
        )
        assert typing.get_args(hints["choice"]) == tuple(STORED)
        assert event_class.from_data(event.to_data()) == event


def test_events_with_attack_strings_are_stored_and_reloaded(injected: Any) -> None:
    module, _ = injected
    store = InMemoryEventStore()
    repository = module.TargetRepository(store)
    target = module.Target.create(matched=STORED[0])
    for index, attack in enumerate(STORED):
        getattr(target, f"do_{index}")(text=attack, choice=attack, matched=attack)
    repository.add(target)
    again = repository.get(target.id)
    assert again.text == STORED[-1]
    assert again.kind is module.Attack(MEMBER_VALUES[9])
    assert [e.__type_name__ for e in target.__events__.values()] == STORED


def test_the_schema_file_name_cannot_end_the_header_comment(tmp_path: Path) -> None:
    name = 'evil\nimport os\n""".yaml'
    (tmp_path / name).write_text(
        yaml.safe_dump({"domain": "evil", "aggregates": {"Thing": {"events": {"Done": {}}}}}),
        encoding="utf-8",
    )
    with working_directory(tmp_path):
        files = pipeline.build([name])
    for file in files:
        first, second = file.text.splitlines()[:2]
        assert first.startswith("# ")
        assert second.startswith("# ")
        assert "\\n" in first
        if file.path.endswith(".py"):
            compile(file.text, file.path, "exec")


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("aggregates",), 'User"""'),
        (("aggregates", "Thing", "fields"), "x; import os"),
        (("aggregates", "Thing", "events"), "Done(): pass\n"),
        (("aggregates", "Thing", "commands"), "run\nimport os"),
        (("value_objects",), "Note'"),
        (("enums",), "E{{x}}"),
        (("aggregates", "Thing", "category"), 'cat"; import os'),
        (("domain",), "pkg; import os"),
    ],
)
def test_names_and_categories_that_would_inject_are_refused(
    tmp_path: Path, where: tuple[str, ...], value: str
) -> None:
    schema: dict[str, Any] = {
        "domain": "safe",
        "aggregates": {"Thing": {"events": {"Done": {}}, "commands": {"do": {"event": "Done"}}}},
    }
    if where == ("domain",):
        schema["domain"] = value
    elif where[-1] == "category":
        schema["aggregates"]["Thing"]["category"] = value
    else:
        node = schema
        for key in where:
            node = node.setdefault(key, {})
        node[value] = (
            {"events": {"Done": {}}}
            if where == ("aggregates",)
            else (
                "String"
                if where[-1] == "fields"
                else {}
                if where[-1] in ("events",)
                else {"event": "Done"}
                if where[-1] == "commands"
                else {"fields": {"x": "String"}}
                if where == ("value_objects",)
                else {"values": ["a"]}
            )
        )
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema), encoding="utf-8")
    with working_directory(tmp_path), pytest.raises(SchemaErrors) as caught:
        pipeline.build(["s.yaml"])
    assert all(str(error).startswith("s.yaml:") for error in caught.value.errors)
