"""`breaking` and `check` against the stored-history oracle, over a table of schema changes.

For each change, `oracle.stranded` writes every event type with the old generated
code and reads it back with the new one. When it finds a stranded event, `breaking`
(against the old schema, with the old schema locked) and `check` (the lock alone)
must both report a STORAGE error; when either reports one, the oracle must find a
stranded event, except for the rules that guard the lock's own promises (a shape
changed in place, a version gap, ...), which refuse changes that happen to read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aggregen.generator.errors import SchemaErrors
from aggregen.review.compare import find_breaking_changes
from aggregen.review.history import history_findings
from aggregen.review.lock import check_lock, read_lock, update_lock
from aggregen.review.rules import STORAGE

from .oracle import stranded
from .support import load_schemas

BASE = """\
domain: shop
enums:
  Size: {values: [s, m, l]}
value_objects:
  Address:
    fields:
      street: {type: String, required: true}
      post_code: String
aggregates:
  Order:
    snapshot_threshold: 0
    fields:
      customer: String
      total: Integer
      size: Size
    events:
      Placed:
        fields:
          customer: {type: String, required: true}
          total: Integer
          quantity: Integer
          status: {type: Enum, values: [open, paid]}
          size: Size
          ship_to: Address
          tags: {type: List, of: String}
          stops: {type: List, of: Address}
          labels: {type: List, of: {type: Enum, values: [red, blue]}}
          gift_note: {type: Text, default: none}
          placed_on: Date
      Paid:
        fields:
          amount: {type: Decimal, required: true}
    commands:
      place: {event: Placed, creates: true}
      pay: {event: Paid}
"""

POLICY_RULES = frozenset(
    {
        # Rules that keep the lock's promises (a released version's shape is final,
        # versions go up by one), or warn: they refuse some changes that still read.
        "SHAPE_CHANGED_WITHOUT_VERSION_BUMP",
        "VERSION_GAP",
        "VERSION_DECREASED",
        "UPCASTER_MISSING",
        "SNAPSHOT_SHAPE_CHANGED",
        # State replay, which the oracle does not compare.
        "EVENT_MAPS_CHANGED",
        # A heuristic that asks for an alias or an acceptance.
        "FIELD_RENAMED_WITHOUT_ALIAS",
    }
)

Schema = dict[str, Any]
Change = Callable[[Schema], None]


def placed(schema: Schema) -> dict[str, Any]:
    for aggregate in schema["aggregates"].values():
        found: dict[str, Any] | None = (aggregate.get("events") or {}).get("Placed")
        if found is not None:
            return found
    raise KeyError("Placed")


def fields(schema: Schema) -> dict[str, Any]:
    found: dict[str, Any] = placed(schema)["fields"]
    return found


def bump(schema: Schema) -> None:
    placed(schema)["version"] = placed(schema).get("version", 1) + 1


def rename(old: str, new: str, *, alias: bool, **changes: Any) -> Change:
    def change(schema: Schema) -> None:
        items = list(fields(schema).items())
        spec = dict(items)[old]
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        if alias:
            spec["aliases"] = [old]
        spec.update(changes)
        fields(schema).clear()
        fields(schema).update(
            {(new if n == old else n): (spec if n == old else s) for n, s in items}
        )

    return change


def set_field(name: str, **changes: Any) -> Change:
    def change(schema: Schema) -> None:
        spec = fields(schema)[name]
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        for key, value in changes.items():
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        fields(schema)[name] = spec

    return change


def drop_field(name: str) -> Change:
    def change(schema: Schema) -> None:
        del fields(schema)[name]

    return change


def add_field(name: str, spec: Any) -> Change:
    def change(schema: Schema) -> None:
        fields(schema)[name] = spec

    return change


def set_address(name: str, **changes: Any) -> Change:
    def change(schema: Schema) -> None:
        address = schema["value_objects"]["Address"]["fields"]
        spec = address[name]
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        spec.update(changes)
        address[name] = spec

    return change


def rename_address_field(old: str, new: str) -> Change:
    def change(schema: Schema) -> None:
        address = schema["value_objects"]["Address"]["fields"]
        spec = address.pop(old)
        spec = {"type": spec} if isinstance(spec, str) else dict(spec)
        address[new] = {**spec, "aliases": [old]}

    return change


def add_address_field(name: str, spec: Any) -> Change:
    def change(schema: Schema) -> None:
        schema["value_objects"]["Address"]["fields"][name] = spec

    return change


def set_enum(**changes: Any) -> Change:
    def change(schema: Schema) -> None:
        schema["enums"]["Size"].update(changes)

    return change


def then(*changes: Change) -> Change:
    """The changes one after the other."""

    def change(schema: Schema) -> None:
        for one in changes:
            one(schema)

    return change


def nothing(schema: Schema) -> None:
    pass


def snake_case(schema: Schema) -> None:
    del schema["wire_casing"]


def casing(schema: Schema) -> None:
    schema["wire_casing"] = "camelCase"


def remove_event(schema: Schema) -> None:
    events = schema["aggregates"]["Order"]["events"]
    del events["Paid"]
    del schema["aggregates"]["Order"]["commands"]["pay"]


def rename_event(*, alias: bool) -> Change:
    def change(schema: Schema) -> None:
        events = schema["aggregates"]["Order"]["events"]
        paid = events.pop("Paid")
        if alias:
            paid["aliases"] = ["Paid"]
        events["Settled"] = paid
        schema["aggregates"]["Order"]["commands"]["pay"]["event"] = "Settled"

    return change


def rename_event_class(schema: Schema) -> None:
    events = schema["aggregates"]["Order"]["events"]
    paid = events.pop("Paid")
    paid["type"] = "Paid"
    events["Settled"] = paid
    schema["aggregates"]["Order"]["commands"]["pay"]["event"] = "Settled"


def rename_aggregate(*, keep_category: bool) -> Change:
    def change(schema: Schema) -> None:
        order = schema["aggregates"].pop("Order")
        if keep_category:
            order["category"] = "order"
        schema["aggregates"]["Purchase"] = order

    return change


def take_over_wire_type(schema: Schema) -> None:
    """Paid removed; Placed now stored as "Paid", its old type an alias."""
    remove_event(schema)
    placed(schema).update(type="Paid", aliases=["Placed"])


def set_category(schema: Schema) -> None:
    schema["aggregates"]["Order"]["category"] = "purchase"


def camel_keeping_keys(schema: Schema) -> None:
    """camelCase, every field whose key that would change kept under its old key."""
    casing(schema)
    for name in ("ship_to", "gift_note", "placed_on"):
        set_field(name, wire_name=name)(schema)
    set_address("post_code", wire_name="post_code")(schema)


CHANGES: dict[str, Change] = {
    "nothing": nothing,
    "field_dropped": drop_field("gift_note"),
    "field_added_optional": add_field("channel", "String"),
    "field_added_default": add_field("channel", {"type": "String", "default": "web"}),
    "field_added_required": add_field("channel", {"type": "String", "required": True}),
    "field_renamed_alias": rename("quantity", "amount", alias=True),
    "field_renamed_no_alias": rename("quantity", "amount", alias=False),
    "field_renamed_and_widened_no_alias": rename("quantity", "amount", alias=False, type="Float"),
    "wire_name_set": set_field("quantity", wire_name="qty"),
    "wire_name_keeps_key_on_rename": rename(
        "quantity", "amount", alias=False, wire_name="quantity"
    ),
    "wire_key_reused_by_another_type": then(
        drop_field("quantity"), add_field("flag", {"type": "Boolean", "wire_name": "quantity"})
    ),
    "wire_casing_camel": casing,
    "wire_casing_camel_keeps_keys": camel_keeping_keys,
    "wire_casing_camel_and_alias": then(
        camel_keeping_keys,
        set_field("gift_note", wire_name=None),
        rename("gift_note", "message", alias=True),
    ),
    "value_object_field_wire_name": set_address("street", wire_name="line1"),
    "value_object_field_renamed_alias": rename_address_field("post_code", "zip"),
    "type_widened": set_field("quantity", type="Decimal"),
    "type_date_widened": set_field("placed_on", type="DateTime"),
    "type_text_to_string": set_field("gift_note", type="String"),
    "type_incompatible": set_field("quantity", type="Boolean"),
    "type_string_to_integer": set_field("gift_note", type="Integer", default=None),
    "type_enum_to_string": set_field("status", type="String", values=None),
    "type_text_to_enum": set_field("gift_note", type="Enum", values=["t0", "none"]),
    "enum_value_removed": set_field("status", values=["open"]),
    "enum_value_renamed_alias": set_field(
        "status", values=["open", "settled"], value_aliases={"paid": "settled"}
    ),
    "enum_value_added": set_field("status", values=["open", "paid", "void"]),
    "named_enum_value_removed": set_enum(values=["s", "m"]),
    "named_enum_value_renamed_alias": set_enum(values=["s", "m", "xl"], value_aliases={"l": "xl"}),
    "default_changed": set_field("gift_note", default="nothing"),
    "default_removed": set_field("gift_note", default=None),
    "made_required": set_field("quantity", required=True),
    "made_optional": set_field("customer", required=None),
    "optional_given_default": set_field("quantity", default=0),
    "list_item_type_changed": set_field("tags", of="Integer"),
    "list_of_strings_to_text": set_field("tags", of="Text"),
    "value_object_field_added_required": add_address_field(
        "city", {"type": "String", "required": True}
    ),
    "value_object_field_added_optional": add_address_field("city", "String"),
    "value_object_field_type_changed": set_address("post_code", type="Integer"),
    "value_object_field_given_default": set_address("post_code", default="none"),
    "value_object_field_made_required": set_address("post_code", required=True),
    "list_enum_value_removed": set_field("labels", of={"type": "Enum", "values": ["red"]}),
    "list_enum_value_renamed_alias": set_field(
        "labels",
        of={"type": "Enum", "values": ["red", "navy"], "value_aliases": {"blue": "navy"}},
    ),
    "event_wire_type_taken_over": take_over_wire_type,
    "event_removed": remove_event,
    "event_renamed_alias": rename_event(alias=True),
    "event_renamed_no_alias": rename_event(alias=False),
    "event_class_renamed_same_type": rename_event_class,
    "aggregate_renamed_same_category": rename_aggregate(keep_category=True),
    "aggregate_renamed": rename_aggregate(keep_category=False),
    "category_changed": set_category,
}

BASE_CAMEL = BASE.replace("domain: shop\n", "domain: shop\nwire_casing: camelCase\n")

CAMEL_CHANGES: dict[str, Change] = {
    "field_renamed_alias": rename("gift_note", "message", alias=True),
    "field_renamed_no_alias": rename("gift_note", "message", alias=False),
    "back_to_snake_case": snake_case,
    "value_object_field_renamed_alias": rename_address_field("post_code", "zip_code"),
}


def changed(change: Change, *, bumped: bool, base: str = BASE) -> str:
    new = yaml.safe_load(base)
    change(new)
    if bumped and placed_exists(new):
        bump(new)
    return yaml.safe_dump(new, sort_keys=False)


def placed_exists(schema: Schema) -> bool:
    return any("Placed" in (a.get("events") or {}) for a in schema["aggregates"].values())


def storage_errors(versions: list[str], tmp_path: Path) -> tuple[set[str], set[str]]:
    """The STORAGE errors of `breaking` (the last version against the one before) and
    of `check`, with every version before the last locked, by rule."""
    lock_path = tmp_path / "aggregen.lock.json"
    paths = []
    for number, text in enumerate(versions):
        path = tmp_path / f"v{number}" / "shop.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    for path in paths[:-1]:
        update_lock(load_schemas([path]), lock_path)
    lock = read_lock(lock_path)
    assert lock is not None
    new = load_schemas([paths[-1]])
    breaking = {
        f.rule
        for f in find_breaking_changes(load_schemas([paths[-2]]), new, lock=lock)
        if f.category == STORAGE and f.blocking
    }
    check = {f.rule for f in history_findings(new, lock) if f.blocking}
    if check_lock(new, lock):
        check.add("LOCK_CHANGED_IN_PLACE")
    return breaking, check


def assert_agreement(versions: list[str], tmp_path: Path) -> None:
    problems = stranded(versions)
    breaking, check = storage_errors(versions, tmp_path)
    if problems:
        assert breaking, f"breaking misses a stranded history: {problems[:2]}"
        assert check, f"check misses a stranded history: {problems[:2]}"
    else:
        assert breaking <= POLICY_RULES, f"false alarm: {breaking}"
        assert check - {"LOCK_CHANGED_IN_PLACE"} <= POLICY_RULES, f"false alarm: {check}"


@pytest.mark.parametrize("bumped", [True, False], ids=["bumped", "same_version"])
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_review_agrees_with_the_stored_history(name: str, bumped: bool, tmp_path: Path) -> None:
    assert_agreement([BASE, changed(CHANGES[name], bumped=bumped)], tmp_path)


@pytest.mark.parametrize("name", sorted(CAMEL_CHANGES))
def test_review_agrees_in_a_camel_case_domain(name: str, tmp_path: Path) -> None:
    assert_agreement(
        [BASE_CAMEL, changed(CAMEL_CHANGES[name], bumped=True, base=BASE_CAMEL)], tmp_path
    )


CHAINS: dict[str, list[Change]] = {
    "default_of_a_field_added_later_changed": [
        add_field("channel", {"type": "String", "default": "web"}),
        then(
            add_field("channel", {"type": "String", "default": "web"}),
            set_field("channel", default="shop"),
        ),
    ],
    "field_dropped_then_readded_with_another_type": [
        drop_field("quantity"),
        then(drop_field("quantity"), add_field("quantity", "Boolean")),
    ],
    "alias_dropped_later": [
        rename("quantity", "amount", alias=True),
        rename("quantity", "amount", alias=False),
    ],
    "alias_dropped_while_widened": [
        rename("quantity", "amount", alias=True),
        rename("quantity", "amount", alias=False, type="Decimal"),
    ],
    "renamed_twice_keeping_only_the_last_alias": [
        rename("quantity", "amount", alias=True),
        then(
            rename("quantity", "amount", alias=True),
            rename("amount", "count", alias=True, type="Decimal"),
        ),
    ],
    "wire_name_set_after_a_rename": [
        rename("quantity", "amount", alias=True),
        rename("quantity", "amount", alias=True, wire_name="sum"),
    ],
    "alias_key_recased": [
        rename("gift_note", "message", alias=True),
        then(rename("gift_note", "message", alias=True), casing),
    ],
    "casing_kept_then_changed": [
        camel_keeping_keys,
        casing,
    ],
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_review_agrees_over_several_versions(name: str, tmp_path: Path) -> None:
    versions = [BASE]
    for number, change in enumerate(CHAINS[name], start=1):
        text = changed(change, bumped=False)
        schema = yaml.safe_load(text)
        placed(schema)["version"] = number + 1
        versions.append(yaml.safe_dump(schema, sort_keys=False))
    assert_agreement(versions, tmp_path)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    chosen=st.lists(st.sampled_from(sorted(CHANGES)), min_size=2, max_size=4, unique=True),
    split=st.integers(min_value=1, max_value=3),
)
def test_review_agrees_over_combined_changes(chosen: list[str], split: int) -> None:
    # Version 2 makes the first `split` changes, version 3 all of them.
    second, third = yaml.safe_load(BASE), yaml.safe_load(BASE)
    try:
        for name in chosen[:split]:
            CHANGES[name](second)
        for name in chosen:
            CHANGES[name](third)
    except KeyError:  # a change of something an earlier change removed
        assume(False)
    assume(placed_exists(second) and placed_exists(third))
    placed(second)["version"], placed(third)["version"] = 2, 3
    versions = [BASE, *(yaml.safe_dump(s, sort_keys=False) for s in (second, third))]
    try:
        load_schemas_from_texts(versions)
    except SchemaErrors:  # changes that contradict each other (a default of another type)
        assume(False)
    with tempfile.TemporaryDirectory() as directory:
        try:
            storage_errors(versions, Path(directory) / "lock")
        except SchemaErrors:  # the lock refuses version 2 (a category changed, ...)
            assume(False)
        assert_agreement(versions, Path(directory) / "review")


def load_schemas_from_texts(versions: list[str]) -> None:
    """Validate each version as `generate` would; raises `SchemaErrors`."""
    with tempfile.TemporaryDirectory() as directory:
        for number, text in enumerate(versions):
            path = Path(directory) / f"{number}.yaml"
            path.write_text(text, encoding="utf-8")
            load_schemas([path])
