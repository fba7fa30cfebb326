"""Field compatibility: whether stored payloads of old fields read as new ones.

STORAGE comparisons (`compare_fields`) say why payloads written with old field
descriptors would not decode with the new ones, leaving out the changes a generated
upcaster handles. CODE comparisons (`stricter_rules`, `python_type`) say where the
generated API changed. Descriptors are `wire_shape` field descriptors.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .wire_shape import READER_KEYS, KeyPath

__all__ = [
    "WIDENINGS",
    "Match",
    "Problem",
    "compare_fields",
    "literal_widened",
    "match_fields",
    "python_type",
    "stricter_rules",
]

WIDENINGS = frozenset(
    {
        ("Integer", "Decimal"),
        ("Integer", "Float"),
        ("Date", "DateTime"),
        ("String", "Text"),
        ("Text", "String"),
        ("Identifier", "String"),
        ("Identifier", "Text"),
        ("Enum", "String"),
        ("Enum", "Text"),
    }
)
"""(old kind, new kind) pairs whose old payloads the new type decodes unchanged."""


@dataclass(frozen=True)
class Problem:
    rule: str
    key_path: KeyPath
    message: str


_PYTHON_TYPES = {
    "String": "str",
    "Text": "str",
    "Identifier": "str",
    "Integer": "int",
    "Float": "float",
    "Decimal": "Decimal",
    "Boolean": "bool",
    "Date": "date",
    "DateTime": "datetime",
}


def python_type(spec: Mapping[str, Any]) -> str:
    """A short form of the Python type a descriptor gives, for CODE comparisons."""
    name = str(spec.get("schema_type", spec.get("kind")))
    name = _PYTHON_TYPES.get(name, name)
    if name == "Enum":
        name = "Literal[" + ", ".join(repr(v) for v in spec.get("values", [])) + "]"
    elif name == "List":
        name = f"List[{python_type(spec.get('items', {}))}]"
    if spec.get("presence") == "optional":
        name += " | None"
    return name


def literal_widened(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an inline enum only gained values (code that passes the old ones still works)."""
    return (
        old.get("schema_type") == new.get("schema_type") == "Enum"
        and old.get("presence") == new.get("presence")
        and set(old.get("values", [])) <= set(new.get("values", []))
    )


# -- field compatibility ------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    pairs: list[tuple[str, str]]
    """(old name, new name) of the same field: by name or alias, else by wire key."""
    added: list[str]
    removed: list[str]
    guessed: list[tuple[str, str]]
    """(old, new): a removed and an added field of the same type: a rename without alias."""
    by_key: frozenset[tuple[str, str]] = frozenset()
    """The pairs of a field renamed with its stored key kept (`wire_name`), not by alias."""


def stored_key(name: str, spec: Mapping[str, Any]) -> str:
    """The key field `name` (descriptor `spec`) has in stored JSON."""
    return str(spec.get("wire_key", name))


def match_fields(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> Match:
    """Pair the fields of an old and a new version, as stored payloads are read.

    A new field reads the old field of its name or of one of its aliases; failing
    that, the old field stored under its own key (a field renamed with its key kept
    by `wire_name`).
    """
    pairs: list[tuple[str, str]] = []
    added: list[str] = []
    taken: set[str] = set()
    for name, spec in new.items():
        candidates = [name, *spec.get("aliases", [])]
        found = next((c for c in candidates if c in old and c not in taken), None)
        if found is None:
            added.append(name)
        else:
            taken.add(found)
            pairs.append((found, name))
    by_key: set[tuple[str, str]] = set()
    old_keys = {stored_key(name, spec): name for name, spec in old.items() if name not in taken}
    for name in list(added):
        found = old_keys.get(stored_key(name, new[name]))
        if found is not None and found not in taken:
            taken.add(found)
            added.remove(name)
            pairs.append((found, name))
            by_key.add((found, name))
    removed = [name for name in old if name not in taken]
    # A removed and an added field look like a rename when the added one reads the
    # removed one's values: of the same type first, else of a type that reads them
    # (a widening, more enum values), as a field renamed and widened at once is.
    guessed: dict[str, str] = {}
    used: set[str] = set()
    for same in (True, False):
        for name in added:
            if name in guessed:
                continue
            twin = next(
                (
                    r
                    for r in removed
                    if r not in used
                    and (
                        _type_signature(old[r]) == _type_signature(new[name])
                        if same
                        else not _compare_type(old[r], new[name], (), "", 0)
                    )
                ),
                None,
            )
            if twin is not None:
                used.add(twin)
                guessed[name] = twin
    pairs_guessed = [(guessed[name], name) for name in added if name in guessed]
    return Match(pairs, added, removed, pairs_guessed, frozenset(by_key))


def _type_signature(spec: Mapping[str, Any]) -> str:
    """What a field's values look like on the wire, to guess renames.

    Presence, default and reader metadata (`READER_KEYS`, rules included) are left
    out: an old descriptor from the lock file holds no reader metadata, and a field
    renamed while its rules changed is still recognised.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if k not in READER_KEYS and k not in ("presence", "default")
            }
        return value

    return json.dumps(strip(dict(spec)), sort_keys=True)


def compare_fields(
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
    container: KeyPath,
    prefix: str,
    version: int,
) -> list[Problem]:
    """Why payloads of `version` with fields `old` would not read as fields `new`.

    `container` is the key path of the new fields' owner (an event or a value
    object); `prefix` the dotted path of the field holding them ("" at the top).
    Changes a generated upcaster handles are not problems.
    """
    problems: list[Problem] = []
    match = match_fields(old, new)
    guessed = {new_name: old_name for old_name, new_name in match.guessed}
    for name in match.added:
        path = (*container, "fields", name)
        shown = prefix + name
        if name in guessed:
            problems.append(
                Problem(
                    "FIELD_RENAMED_WITHOUT_ALIAS",
                    path,
                    f"field {prefix + guessed[name]!r} seems renamed to {shown!r} without an "
                    f"alias: version {version} payloads hold {guessed[name]!r}, whose value "
                    f"would be lost; add `aliases: [{guessed[name]}]` to {shown!r} (or accept "
                    "this finding if it is not a rename)",
                )
            )
        elif new[name].get("presence") == "required":
            problems.append(
                Problem(
                    "FIELD_ADDED_REQUIRED_WITHOUT_DEFAULT",
                    path,
                    f"field {shown!r} was added as required without a default: version "
                    f"{version} payloads do not have it; give it a default or make it optional",
                )
            )
    for old_name, new_name in match.pairs:
        path = (*container, "fields", new_name)
        problems.extend(
            _compare_key(old_name, old[old_name], new_name, new[new_name], path, prefix, version)
        )
        problems.extend(
            _compare_field(old[old_name], new[new_name], path, prefix + new_name, version)
        )
    return problems


def _compare_key(
    old_name: str,
    old: Mapping[str, Any],
    new_name: str,
    new: Mapping[str, Any],
    path: KeyPath,
    prefix: str,
    version: int,
) -> list[Problem]:
    """FIELD_WIRE_KEY_CHANGED: the key old payloads hold the field under is not read.

    The generated code reads a field under its wire key and, through the generated
    upcaster, under the keys of its aliases; `wire_name` and the domain's
    `wire_casing` decide those keys.
    """
    before = stored_key(old_name, old)
    readable = (stored_key(new_name, new), *new.get("wire_aliases", new.get("aliases", [])))
    if before in readable:
        return []
    shown = prefix + new_name
    read = " or ".join(repr(key) for key in readable)
    fix = f"keep `wire_name: {before}` on {shown!r}, or " if old_name == new_name else ""
    return [
        Problem(
            "FIELD_WIRE_KEY_CHANGED",
            path,
            f"version {version} payloads hold field {shown!r} under the key {before!r}, but "
            f"the generated code reads it under {read} (`wire_name`, `wire_casing`): their "
            f"value would be lost, or they would not read at all; {fix}move the key in a "
            f"hand-written upcaster from version {version} (`hand_written_upcast: "
            f"[{version}]`, with the event's version above {version})",
        )
    ]


def _compare_field(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, version: int
) -> list[Problem]:
    problems: list[Problem] = []
    if old.get("presence") == "optional" and new.get("presence") == "required":
        problems.append(
            Problem(
                "FIELD_MADE_REQUIRED",
                path,
                f"field {shown!r} was optional and is now required: version {version} payloads "
                "may hold null for it; give it a default instead",
            )
        )
    problems.extend(_compare_type(old, new, path, shown, version))
    return problems


def _compare_type(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, version: int
) -> list[Problem]:
    before, after = str(old.get("kind")), str(new.get("kind"))
    if before != after and (before, after) not in WIDENINGS:
        return [
            Problem(
                "FIELD_TYPE_INCOMPATIBLE",
                path,
                f"field {shown!r} changed type from {before} to {after}: version {version} "
                f"payloads hold {old.get('json')} values that {after} does not read",
            )
        ]
    problems: list[Problem] = []
    if before == "Enum" and after == "Enum":
        aliases = new.get("value_aliases", {})
        kept = set(new.get("values", []))
        lost = [
            value
            for value in old.get("values", [])
            if value not in kept and aliases.get(value) not in kept
        ]
        if lost:
            listed = ", ".join(repr(value) for value in lost)
            problems.append(
                Problem(
                    "ENUM_VALUE_REMOVED",
                    path,
                    f"field {shown!r} lost the enum value{'s' if len(lost) > 1 else ''} "
                    f"{listed}: version {version} payloads may hold "
                    f"{'them' if len(lost) > 1 else 'it'}; keep "
                    f"{'them' if len(lost) > 1 else 'it'}, or map "
                    f"{'each' if len(lost) > 1 else 'it'} to a current value in `value_aliases`",
                )
            )
    elif after == "List":
        problems.extend(
            _compare_type(old.get("items", {}), new.get("items", {}), path, shown + "[]", version)
        )
    elif after == "Object":
        container: KeyPath = ("value_objects", str(new.get("schema_type")))
        problems.extend(
            compare_fields(
                old.get("fields", {}), new.get("fields", {}), container, shown + ".", version
            )
        )
    return problems


# -- field rules (CODE) ---------------------------------------------------------------


def stricter_rules(
    old: Mapping[str, Any], new: Mapping[str, Any], path: KeyPath, shown: str, maker: str
) -> list[Problem]:
    """Where the rules of field `new`, its list items and value object fields are stricter.

    Rules are checked when an event or value is made, not when a stored one is read,
    so this is a CODE comparison, with the base schemas only. `maker` names the class
    whose construction checks the rule (the event, or the value object holding the
    field). A type change outside the widenings is left to the type findings.
    """
    before, after = str(old.get("kind")), str(new.get("kind"))
    if before != after and (before, after) not in WIDENINGS:
        return []
    problems: list[Problem] = []
    tightened = _tightened(old, new)
    if tightened:
        problems.append(
            Problem(
                "FIELD_CONSTRAINT_TIGHTENED",
                path,
                f"field {shown!r} has a stricter rule ({'; '.join(tightened)}): a value that "
                "met the old rule but not the new one now raises ValidationError where a "
                f"command or other code makes {maker}; stored events still read (reading "
                "checks types, not rules)",
            )
        )
    if after == "List":
        problems.extend(
            stricter_rules(old.get("items", {}), new.get("items", {}), path, shown + "[]", maker)
        )
    elif after == "Object":
        value_object = str(new.get("schema_type"))
        old_fields, new_fields = old.get("fields", {}), new.get("fields", {})
        for old_name, new_name in match_fields(old_fields, new_fields).pairs:
            problems.extend(
                stricter_rules(
                    old_fields[old_name],
                    new_fields[new_name],
                    ("value_objects", value_object, "fields", new_name),
                    f"{shown}.{new_name}",
                    value_object,
                )
            )
    return problems


def _number(value: Any) -> decimal.Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return decimal.Decimal(repr(value) if isinstance(value, float) else str(value))
    except decimal.InvalidOperation:
        return None


def _tightened(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, stricter in (
        ("min_length", 1),
        ("min", 1),
        ("max_length", -1),
        ("max", -1),
    ):
        before, after = _number(old.get(key)), _number(new.get(key))
        if after is None:
            continue
        if before is None or (after - before) * stricter > 0:
            shown_before = "none" if before is None else str(old.get(key))
            found.append(f"{key} {shown_before} -> {new.get(key)}")
    pattern = new.get("pattern")
    if pattern is not None and pattern != old.get("pattern"):
        before_pattern = old.get("pattern")
        shown = "none" if before_pattern is None else repr(before_pattern)
        found.append(f"pattern {shown} -> {pattern!r}")
    return found
