"""The lock file: deterministic, append-only, and what `check_lock` refuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from aggregen.generator.errors import SchemaErrors
from aggregen.review.compare import find_breaking_changes
from aggregen.review.lock import (
    check_lock,
    default_lock_path,
    dump_lock,
    lock_data,
    merge_locks,
    read_lock,
    update_lock,
)
from aggregen.review.wire_shape import domain_shapes, fingerprint

from .support import load_schemas

V1 = """\
domain: shop
aggregates:
  Order:
    events:
      Placed:
        fields:
          customer: {type: String, required: true, description: Who ordered.}
          total: Integer
      Cancelled:
        fields:
          reason: Text
"""
V2 = V1.replace("      Placed:\n", "      Placed:\n        version: 2\n").replace(
    "          total: Integer", "          total: Integer\n          note: Text"
)


def schema(tmp_path: Path, text: str, name: str = "shop.yaml") -> Path:
    path = tmp_path / "schemas" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_lock_text_is_deterministic_sorted_with_trailing_newline(tmp_path: Path) -> None:
    documents = load_schemas([schema(tmp_path, V1)])
    text = dump_lock(lock_data(documents))
    assert text.endswith("}\n")
    assert text == dump_lock(json.loads(text))
    data = json.loads(text)
    assert list(data) == sorted(data)
    events = data["domains"]["shop"]["aggregates"]["Order"]["events"]
    assert list(events) == ["Cancelled", "Placed"]
    assert events["Placed"][0]["fields"]["customer"] == {
        "json": "string",
        "kind": "String",
        "presence": "required",
    }


def test_descriptions_and_aliases_are_not_part_of_the_wire_shape(tmp_path: Path) -> None:
    plain = lock_data(load_schemas([schema(tmp_path, V1)]))
    described = V1.replace("Who ordered.", "The buyer.").replace(
        "          total: Integer", "          total: {type: Integer, aliases: [sum]}"
    )
    assert lock_data(load_schemas([schema(tmp_path, described)])) == plain


RULED = """\
domain: shop
value_objects:
  Address:
    fields:
      zip: {type: String, required: true, max_length: 5, pattern: "[0-9]+"}
aggregates:
  Order:
    events:
      Placed:
        fields:
          customer: {type: String, required: true, min_length: 1, max_length: 50}
          total: {type: Integer, min: 0, max: 1000}
          tags: {type: List, of: {type: String, max_length: 10}}
          address: Address
"""


def test_rules_are_not_part_of_the_wire_shape(tmp_path: Path) -> None:
    # Rules are checked when an event is made, not when a stored one is read.
    ruled = lock_data(load_schemas([schema(tmp_path, RULED)]))
    plain = RULED.replace(', max_length: 5, pattern: "[0-9]+"', "")
    plain = plain.replace(", min_length: 1, max_length: 50", "")
    plain = plain.replace("{type: Integer, min: 0, max: 1000}", "Integer")
    plain = plain.replace("{type: String, max_length: 10}", "String")
    assert "max" not in plain
    assert lock_data(load_schemas([schema(tmp_path, plain)])) == ruled
    text = dump_lock(ruled)
    for rule in ("min_length", "max_length", "pattern", '"min"', '"max"'):
        assert rule not in text


def test_a_rule_changed_in_place_is_not_a_change_of_the_locked_version(tmp_path: Path) -> None:
    lock_path = tmp_path / "aggregen.lock.json"
    path = schema(tmp_path, RULED)
    update_lock(load_schemas([path]), lock_path)
    before = lock_path.read_bytes()
    for changed in (
        RULED.replace("max_length: 50", "max_length: 20"),  # tightened
        RULED.replace("max_length: 50", "max_length: 200").replace(', pattern: "[0-9]+"', ""),
    ):
        documents = load_schemas([schema(tmp_path, changed)])
        lock = update_lock(documents, lock_path)
        assert check_lock(documents, lock) == []
        assert lock_path.read_bytes() == before


def with_rules(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A descriptor as the lock held it while rules were part of the wire shape."""
    result = {}
    for key, value in spec.items():
        if key == "items":
            value = with_rules(value)
        elif key == "fields":
            value = {name: with_rules(inner) for name, inner in value.items()}
        if key not in ("aliases", "value_aliases", "schema_type"):
            result[key] = value
    return result


def test_a_lock_whose_entries_hold_rules_still_reads_and_is_rewritten(tmp_path: Path) -> None:
    # Written while rules were part of the wire shape: each entry holds the field
    # descriptors with their rules, and the hash of that.
    documents = load_schemas([schema(tmp_path, RULED)])
    (event,) = domain_shapes(documents)["shop"].aggregates[0].events
    fields = {name: with_rules(spec) for name, spec in event.fields.items()}
    shape = {"type": "Placed", "version": 1, "fields": fields}
    data = lock_data(documents)
    data["domains"]["shop"]["aggregates"]["Order"]["events"]["Placed"] = [
        {"version": 1, "fields": fields, "hash": fingerprint(shape)}
    ]
    lock_path = tmp_path / "aggregen.lock.json"
    lock_path.write_text(dump_lock(data), encoding="utf-8")
    assert "max_length" in lock_path.read_text(encoding="utf-8")
    lock = read_lock(lock_path)
    assert lock is not None
    assert check_lock(documents, lock) == []
    assert find_breaking_changes(None, documents, lock=lock) == []
    tightened = load_schemas([schema(tmp_path, RULED.replace("max: 1000", "max: 10"))])
    assert check_lock(tightened, lock) == []
    update_lock(tightened, lock_path)
    assert lock_path.read_text(encoding="utf-8") == dump_lock(lock_data(documents))


def test_update_adds_versions_and_never_drops_them(tmp_path: Path) -> None:
    lock_path = tmp_path / "schemas" / "aggregen.lock.json"
    path = schema(tmp_path, V1)
    update_lock(load_schemas([path]), lock_path)
    first = lock_path.read_bytes()
    update_lock(load_schemas([path]), lock_path)
    assert lock_path.read_bytes() == first
    schema(tmp_path, V2)
    lock = update_lock(load_schemas([path]), lock_path)
    versions = [(e.type_name, e.version) for e in lock.events()]
    assert versions == [("Cancelled", 1), ("Placed", 1), ("Placed", 2)]
    assert read_lock(lock_path) is not None
    assert check_lock(load_schemas([path]), lock) == []


def test_update_refuses_a_version_changed_in_place_unless_replacing(tmp_path: Path) -> None:
    lock_path = tmp_path / "aggregen.lock.json"
    path = schema(tmp_path, V1)
    update_lock(load_schemas([path]), lock_path)
    before = lock_path.read_bytes()
    schema(tmp_path, V1.replace("total: Integer", "total: Decimal"))
    with pytest.raises(SchemaErrors) as raised:
        update_lock(load_schemas([path]), lock_path)
    assert [e.message for e in raised.value.errors] == [
        "event Order.Placed version 1 was changed in place: its wire shape differs from the "
        "locked one (field 'total' changed type from Integer to Decimal); raise its version "
        "(and keep the old shape readable) instead"
    ]
    assert lock_path.read_bytes() == before
    lock = update_lock(load_schemas([path]), lock_path, replace=True)
    assert [e.fields["total"]["kind"] for e in lock.events() if e.type_name == "Placed"] == [
        "Decimal"
    ]


def test_check_lock_reports_missing_and_changed_versions(tmp_path: Path) -> None:
    lock_path = tmp_path / "aggregen.lock.json"
    path = schema(tmp_path, V1)
    update_lock(load_schemas([path]), lock_path)
    lock = update_lock(load_schemas([schema(tmp_path, V2)]), lock_path)
    changed = V1.replace("total: Integer", "total: Decimal").replace(
        "      Cancelled:\n        fields:\n          reason: Text\n", ""
    )
    schema(
        tmp_path,
        changed.replace("aggregates:", "aggregates:\n  Other:\n    events:\n      X: {}\n"),
    )
    errors = check_lock(load_schemas([path]), lock)
    assert [(Path(e.path).name, e.line, e.message) for e in errors] == [
        (
            "aggregen.lock.json",
            19,
            "locked Order event 'Cancelled' version 1 is missing from the schemas: no event "
            "reads this wire type (removed, or renamed without an alias)",
        ),
        (
            "aggregen.lock.json",
            58,
            "locked Order event 'Placed' version 2 is missing from the schemas: Placed is now "
            "at version 1",
        ),
        (
            "shop.yaml",
            9,
            "event Order.Placed version 1 was changed in place: its wire shape differs from "
            "the locked one (field 'total' changed type from Integer to Decimal); raise its "
            "version (and keep the old shape readable) instead",
        ),
    ]


def test_a_version_changed_in_place_names_each_difference(tmp_path: Path) -> None:
    before = """\
domain: shop
wire_casing: camelCase
value_objects:
  Address:
    fields:
      street: String
aggregates:
  Order:
    events:
      Placed:
        fields:
          customer: {type: String, required: true}
          total: Integer
          state: {type: Enum, values: [new, paid]}
          ship_to: Address
          gift_note: Text
          tags: {type: List, of: String}
"""
    after = (
        before.replace("customer: {type: String, required: true}", "customer: String")
        .replace("total: Integer", "total: Decimal")
        .replace("values: [new, paid]", "values: [new, settled, shipped]")
        .replace("street: String", "street: {type: String, wire_name: road}")
        .replace("gift_note: Text", "note: {type: Text, default: ''}")
        .replace("of: String", "of: Integer")
    )
    lock = update_lock(load_schemas([schema(tmp_path, before)]), tmp_path / "aggregen.lock.json")
    [error] = check_lock(load_schemas([schema(tmp_path, after)]), lock)
    assert (error.line, error.column) == (10, 7)  # at `Placed:`
    assert error.message == (
        "event Order.Placed version 1 was changed in place: its wire shape differs from the "
        "locked one (field 'customer' was required and is now optional; "
        "field 'gift_note' removed; field 'note' added with the default \"\"; "
        "field 'ship_to.street' changed its wire key from 'street' to 'road'; "
        "field 'state' gained the enum values 'settled', 'shipped'; "
        "field 'state' lost the enum value 'paid'; "
        "field 'tags[]' changed type from String to Integer; "
        "field 'total' changed type from Integer to Decimal); "
        "raise its version (and keep the old shape readable) instead"
    )


def test_an_event_renamed_with_an_alias_still_covers_its_locked_versions(tmp_path: Path) -> None:
    lock_path = tmp_path / "aggregen.lock.json"
    path = schema(tmp_path, V1)
    lock = update_lock(load_schemas([path]), lock_path)
    renamed = V1.replace(
        "      Cancelled:\n", "      Voided:\n        version: 2\n        aliases: [Cancelled]\n"
    )
    assert check_lock(load_schemas([schema(tmp_path, renamed)]), lock) == []


def test_a_hand_edited_lock_is_refused(tmp_path: Path) -> None:
    lock_path = tmp_path / "aggregen.lock.json"
    update_lock(load_schemas([schema(tmp_path, V1)]), lock_path)
    text = lock_path.read_text().replace('"kind": "Integer"', '"kind": "Decimal"')
    lock_path.write_text(text)
    with pytest.raises(SchemaErrors, match="edited by hand"):
        read_lock(lock_path)
    lock_path.write_text("{not json")
    with pytest.raises(SchemaErrors, match="lock file is not JSON"):
        read_lock(lock_path)
    assert read_lock(tmp_path / "missing.json") is None


def test_default_lock_path_is_next_to_the_schemas(tmp_path: Path) -> None:
    path = schema(tmp_path, V1)
    assert default_lock_path([path.parent]) == path.parent / "aggregen.lock.json"
    assert default_lock_path([path]) == path.parent / "aggregen.lock.json"


def test_merge_keeps_every_entry(tmp_path: Path) -> None:
    first = update_lock(load_schemas([schema(tmp_path, V1)]), tmp_path / "a.json")
    second = update_lock(load_schemas([schema(tmp_path, V2)]), tmp_path / "b.json")
    merged = merge_locks(first, None, second)
    assert merged is not None
    assert sorted((e.type_name, e.version) for e in merged.events()) == [
        ("Cancelled", 1),
        ("Placed", 1),
        ("Placed", 2),
    ]
    assert merge_locks(None) is None


def test_an_event_renamed_in_place_names_its_wire_type(tmp_path: Path) -> None:
    lock = update_lock(load_schemas([schema(tmp_path, V1)]), tmp_path / "aggregen.lock.json")
    renamed = V1.replace("      Cancelled:\n", "      Voided:\n        aliases: [Cancelled]\n")
    [error] = check_lock(load_schemas([schema(tmp_path, renamed)]), lock)
    assert error.message == (
        "event Order.Voided version 1 was changed in place: its wire shape differs from the "
        "locked one (wire type changed from 'Cancelled' to 'Voided'); raise its version "
        "(and keep the old shape readable) instead"
    )
