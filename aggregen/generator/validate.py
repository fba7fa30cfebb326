"""Stage 2, validate: structure by JSON Schema, then the rules JSON Schema cannot say.

`validate` returns every problem as a `SchemaError` pointing at the key or value at
fault; semantic rules run on the documents whose structure is valid. The rules are
those of docs/schema-format.md, in modules of one concern each:

- `structure`: the JSON Schema (`schema.json`) and its errors in words;
- `reserved`: the names a schema cannot take;
- `check_names`, `check_evolution`, `check_fields`, `check_aggregates`: the rules
  on names, earlier names, fields and their defaults (`default_values`), and
  aggregates with their events and commands (`check_base` holds what they share).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .check_aggregates import check_document
from .errors import SchemaError, SchemaErrors
from .load import SchemaDocument, load
from .reserved import (
    BUILTIN_TYPES,
    GENERATOR_IMPORTS,
    RESERVED_CLASS_NAMES,
    RESERVED_DOMAIN_NAMES,
    RESERVED_NAMES,
    RUNTIME_IMPORTS,
)
from .storable import unstorable_text_errors
from .structure import describe, ecma_regex, json_schema, schema_validator, structure_errors
from .wirekeys import wire_key_errors

__all__ = [
    "BUILTIN_TYPES",
    "GENERATOR_IMPORTS",
    "RESERVED_CLASS_NAMES",
    "RESERVED_DOMAIN_NAMES",
    "RESERVED_NAMES",
    "RUNTIME_IMPORTS",
    "describe",
    "ecma_regex",
    "json_schema",
    "load_and_validate",
    "schema_validator",
    "validate",
]


def validate(documents: Sequence[SchemaDocument]) -> list[SchemaError]:
    """Every problem of `documents`, sorted; `[]` when all are valid.

    Structure (JSON Schema) is checked first; the other rules of
    docs/schema-format.md on each document whose structure is valid. Never raises
    for any loaded document.
    """
    errors: list[SchemaError] = []
    domains: dict[str, SchemaDocument] = {}
    for document in sorted(documents, key=lambda d: str(d.path)):
        structural = structure_errors(document)
        errors.extend(structural)
        if not structural:
            errors.extend(check_document(document))
            errors.extend(wire_key_errors(document))
            errors.extend(unstorable_text_errors(document))
        domain = document.data.get("domain")
        if isinstance(domain, str):
            first = domains.setdefault(domain, document)
            if first is not document:
                message = f"domain {domain!r} is already defined in {first.path}"
                errors.append(document.value_error(("domain",), message))
    return sorted(set(errors))


def load_and_validate(paths: Sequence[str | Path]) -> list[SchemaDocument]:
    """Load (see `load.load`) and validate the schema files named by `paths`.

    Returns the documents, ordered by path. Raises `SchemaErrors` listing every
    problem when anything is wrong.
    """
    documents = load(paths)
    errors = validate(documents)
    if errors:
        raise SchemaErrors(errors)
    return documents
