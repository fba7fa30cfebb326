"""Helpers of the review tests: load schemas as the generator does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aggregen.generator.load import SchemaDocument
from aggregen.generator.validate import load_and_validate


def load_schemas(paths: Sequence[str | Path]) -> list[SchemaDocument]:
    """Load and validate, the evolution keys included; raises `SchemaErrors`."""
    return load_and_validate(paths)
