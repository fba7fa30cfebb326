"""Integer fields hold signed 64-bit integers: what the store (orjson) can encode.

A regression found by the property tests: 2**64 passed validation, then storing the
event failed with orjson's `TypeError`. Now the rule refuses it, naming the field.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from aggregen.generator import pipeline
from aggregen.runtime import InMemoryEventStore
from aggregen.runtime.errors import ValidationError
from aggregen.runtime.validation import INTEGER_MAX, INTEGER_MIN, IntegerRule, ListRule, check

from .support import importable, working_directory


@pytest.mark.parametrize("value", [INTEGER_MAX + 1, INTEGER_MIN - 1, 2**64, -(2**100)])
def test_integer_rule_refuses_values_outside_64_bits(value: int) -> None:
    errors: dict[str, list[str]] = {}
    check(errors, "count", value, IntegerRule())
    check(errors, "counts", (1, value), ListRule(IntegerRule()))
    assert list(errors) == ["count", "counts[1]"]
    assert errors["count"][0].startswith("must fit in 64 bits")


@pytest.mark.parametrize("value", [INTEGER_MAX, INTEGER_MIN, 0])
def test_integer_rule_accepts_the_edges(value: int) -> None:
    errors: dict[str, list[str]] = {}
    check(errors, "count", value, IntegerRule())
    assert errors == {}


def test_generated_events_refuse_and_store_integers_at_the_edges(tmp_path: Path) -> None:
    schema = {
        "domain": "wide_numbers",
        "aggregates": {
            "Counter": {
                "fields": {"count": "Integer"},
                "events": {"Counted": {"fields": {"count": {"type": "Integer", "required": True}}}},
                "commands": {"count_up": {"event": "Counted", "creates": True}},
            }
        },
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(schema), encoding="utf-8")
    with working_directory(tmp_path):
        pipeline.generate(["s.yaml"], tmp_path / "out")
    with importable(tmp_path / "out", ["wide_numbers"]):
        module = importlib.import_module("wide_numbers")
        with pytest.raises(ValidationError) as caught:
            module.Counter.count_up(count=2**64)
        assert caught.value.messages["count"][0].startswith("must fit in 64 bits")
        repository = module.CounterRepository(InMemoryEventStore())
        for value in (INTEGER_MAX, INTEGER_MIN):
            counter = module.Counter.count_up(count=value)
            repository.add(counter)
            assert repository.get(counter.id).count == value
