"""The rules of schema review: each kind of finding, its category and severity.

A STORAGE finding means stored events or streams would no longer rehydrate (or be
read differently); a CODE finding means apps that import the generated package
break. See docs/schema-evolution.md for what each rule checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CODE", "ERROR", "RULES", "STORAGE", "WARNING", "Rule"]

STORAGE = "STORAGE"
CODE = "CODE"
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """A kind of finding: its id, category, severity and what it means."""

    id: str
    category: str
    severity: str
    summary: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


RULES: Mapping[str, Rule] = _rules(
    Rule("AGGREGATE_REMOVED", STORAGE, ERROR, "an aggregate with stored streams was removed"),
    Rule("CATEGORY_CHANGED", STORAGE, ERROR, "an aggregate's stream category changed"),
    Rule("IDENTIFIER_TYPE_CHANGED", STORAGE, ERROR, "an aggregate's identifier type changed"),
    Rule("EVENT_REMOVED", STORAGE, ERROR, "an event type was removed or renamed without an alias"),
    Rule("FIELD_RENAMED_WITHOUT_ALIAS", STORAGE, ERROR, "a field was renamed without an alias"),
    Rule("FIELD_TYPE_INCOMPATIBLE", STORAGE, ERROR, "a field's type changed incompatibly"),
    Rule(
        "FIELD_WIRE_KEY_CHANGED",
        STORAGE,
        ERROR,
        "a field is stored under another key (`wire_name`, `wire_casing`) than older payloads",
    ),
    Rule(
        "FIELD_ADDED_REQUIRED_WITHOUT_DEFAULT",
        STORAGE,
        ERROR,
        "a required field without a default was added",
    ),
    Rule("FIELD_MADE_REQUIRED", STORAGE, ERROR, "an optional field was made required"),
    Rule("ENUM_VALUE_REMOVED", STORAGE, ERROR, "an enum value was removed without an alias"),
    Rule(
        "SHAPE_CHANGED_WITHOUT_VERSION_BUMP",
        STORAGE,
        ERROR,
        "an event's wire shape changed but its version did not",
    ),
    Rule("VERSION_GAP", STORAGE, ERROR, "an event's version skipped a number"),
    Rule("VERSION_DECREASED", STORAGE, ERROR, "an event's version went down"),
    Rule("UPCASTER_MISSING", STORAGE, ERROR, "older payloads need a hand-written upcaster"),
    Rule(
        "EVENT_MAPS_CHANGED",
        STORAGE,
        ERROR,
        "a stored event's field now sets another state field: replays give another state",
    ),
    Rule(
        "FIELD_DEFAULT_CHANGED",
        STORAGE,
        ERROR,
        "stored payloads that lack a field now read another default",
    ),
    Rule("SNAPSHOT_SHAPE_CHANGED", STORAGE, WARNING, "stored snapshots will be ignored"),
    Rule("AGGREGATE_RENAMED", CODE, ERROR, "an aggregate class was renamed"),
    Rule("EVENT_RENAMED", CODE, ERROR, "an event class was renamed"),
    Rule("FIELD_REMOVED", CODE, ERROR, "an event field was removed"),
    Rule("FIELD_RENAMED", CODE, ERROR, "an event field was renamed"),
    Rule("FIELD_TYPE_CHANGED", CODE, ERROR, "an event field's Python type changed"),
    Rule(
        "FIELD_CONSTRAINT_TIGHTENED",
        CODE,
        ERROR,
        "an event field's rule got stricter: commands may reject values they accepted",
    ),
    Rule("STATE_FIELD_REMOVED", CODE, ERROR, "an aggregate state attribute was removed"),
    Rule("STATE_FIELD_TYPE_CHANGED", CODE, ERROR, "an aggregate state attribute's type changed"),
    Rule("IDENTIFIER_RENAMED", CODE, ERROR, "an aggregate's identifier property was renamed"),
    Rule("COMMAND_REMOVED", CODE, ERROR, "a command method was removed"),
    Rule("COMMAND_KIND_CHANGED", CODE, ERROR, "a command switched class/instance method"),
    Rule("COMMAND_PARAMETER_REMOVED", CODE, ERROR, "a command parameter was removed"),
    Rule("COMMAND_PARAMETER_REQUIRED", CODE, ERROR, "a command parameter became required"),
    Rule(
        "COMMAND_DEFAULT_CHANGED",
        CODE,
        WARNING,
        "a command parameter's default changed: calls without it store another value",
    ),
)
"""Every rule, by id."""
