"""Part of the model stage: generated names, checked for clashes, and imports in order.

A `Namespace` is one scope of generated code (a module, a class); claiming a name
taken already is reported as a schema error at the node that asked for it, so the
model never produces a clashing name. Imports are ordered the way ruff's isort
rules want them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .errors import SchemaError
from .naming import is_identifier

__all__ = [
    "AGGREGATE_ATTRIBUTES",
    "EVENT_ATTRIBUTES",
    "RESERVED_IMPORTS",
    "RUNTIME",
    "RUNTIME_VERSION_CHECK",
    "SHADOWING",
    "VALIDATION",
    "VALIDATION_ALIAS",
    "VALIDATION_IMPORT",
    "VALUES_MODULE",
    "VALUE_OBJECT_ATTRIBUTES",
    "Namespace",
    "Problems",
    "SchemaSource",
    "import_sections",
    "natural_key",
    "reserved",
    "sorted_names",
]

RUNTIME = "aggregen.runtime.support"
"""The one runtime module generated code imports (public, documented, versioned)."""
VALIDATION = RUNTIME
VALIDATION_ALIAS = "_validation"
"""Generated code refers to the runtime's rules and helpers as `_validation.<name>`:
schema names never start with `_`, so no field, parameter or class can shadow them."""
RUNTIME_VERSION_CHECK = "check_generated_code"
"""What a generated package's `__init__` calls first when the runtime's version is not
the one that generated it (`aggregen.runtime.support.check_generated_code`)."""
VALIDATION_IMPORT = (f"{VALIDATION} as {VALIDATION_ALIAS}", "")
VALUES_MODULE = "values"

RESERVED_IMPORTS = frozenset(
    {
        "Aggregate",
        "Any",
        "AsyncEventHandler",
        "AsyncEventStore",
        "AsyncRepository",
        "ClassVar",
        "Event",
        "EventHandler",
        "EventStore",
        "Literal",
        "Metadata",
        "Repository",
        "Self",
        "Sequence",
    }
)
"""Names generated modules may import: no generated class may take one of them."""

SHADOWING = frozenset(
    {
        "bool",
        "classmethod",
        "cls",
        "dataclasses",
        "datetime",
        "decimal",
        "dict",
        "enum",
        "float",
        "int",
        "list",
        "object",
        "property",
        "self",
        "staticmethod",
        "str",
        "super",
        "type",
        "typing",
    }
)
"""Names that, as fields or parameters, would shadow what generated code refers to."""

EVENT_ATTRIBUTES = frozenset({"metadata", "to_data", "from_data", "type_name", "upcast"})
VALUE_OBJECT_ATTRIBUTES = frozenset({"to_data", "from_data"})
AGGREGATE_ATTRIBUTES = frozenset(
    {"id", "apply", "raise_", "category", "stream_name", "pending_events"}
)


class SchemaSource(Protocol):
    """What the model stage needs of a loaded, validated schema document."""

    @property
    def path(self) -> Path: ...

    @property
    def data(self) -> dict[str, Any]: ...

    def error(self, key_path: Sequence[str | int], message: str) -> SchemaError: ...


def natural_key(name: str) -> tuple[int, list[Any]]:
    """Sort key of isort and ruff: CONSTANTS, then Classes, then others, numbers by value."""
    group = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    parts: list[Any] = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name) if p]
    return group, [(0, p) if isinstance(p, int) else (1, p) for p in parts]


def sorted_names(names: Iterable[str]) -> tuple[str, ...]:
    """`names`, unique, in isort order."""
    return tuple(sorted(set(names), key=natural_key))


def import_sections(imports: Iterable[tuple[str, str]]) -> tuple[tuple[str, ...], ...]:
    """Import statements in ruff's isort order: future, stdlib, aggregen, relative.

    (module, "") is `import module` (module may read `name as alias`).
    """
    modules: dict[str, set[str]] = {}
    for module, name in imports:
        modules.setdefault(module, set())
        if name:
            modules[module].add(name)
    stdlib: list[str] = []
    stdlib_from: list[str] = []
    runtime_bare: list[str] = []
    runtime: list[str] = []
    local: list[str] = []
    for module in sorted(modules):
        names = modules[module]
        statement = f"from {module} import {', '.join(sorted_names(names))}" if names else ""
        if module.startswith("."):
            local.append(statement)
        elif module.startswith("aggregen"):
            if names:
                runtime.append(statement)
            else:
                runtime_bare.append(f"import {module}")
        elif names:
            stdlib_from.append(statement)
        else:
            stdlib.append(f"import {module}")
    sections = [("from __future__ import annotations",), (*stdlib, *stdlib_from)]
    sections += [(*runtime_bare, *runtime), tuple(local)]
    return tuple(section for section in sections if section)


class Problems:
    """Collects schema errors of one document; `claim` checks names for clashes."""

    def __init__(self, document: SchemaSource) -> None:
        self.document = document
        self.errors: list[SchemaError] = []

    def add(self, key_path: Sequence[str | int], message: str) -> None:
        self.errors.append(self.document.error(key_path, message))


class Namespace:
    """Names defined in one scope; a second definition of a name is a clash."""

    def __init__(self, problems: Problems, scope: str, reserved: Mapping[str, str]) -> None:
        self.problems = problems
        self.scope = scope
        self.taken: dict[str, str] = dict(reserved)

    def claim(self, name: str, what: str, key_path: Sequence[str | int]) -> bool:
        if not is_identifier(name):
            self.problems.add(key_path, f"{what} {name!r} is not a usable Python name")
            return False
        other = self.taken.get(name)
        if other is not None:
            self.problems.add(key_path, f"{what} {name!r} clashes with {other} in {self.scope}")
            return False
        self.taken[name] = what
        return True


def reserved(names: Iterable[str], what: str) -> dict[str, str]:
    return dict.fromkeys(names, what)
