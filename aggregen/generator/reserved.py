"""Names a schema cannot take: Python's, the runtime's, the generator's, too long ones.

The tables the validator's name rules use (`check_names`), and that property-based
tests draw valid names against. docs/schema-format.md lists them in words.
"""

from __future__ import annotations

import builtins
import sys

from .namespace import RESERVED_IMPORTS

__all__ = [
    "BUILTIN_TYPES",
    "DOCS_PAGE_SUFFIX",
    "EVENT_METHODS",
    "GENERATOR_IMPORTS",
    "LONGEST_MODULE_SUFFIX",
    "MAX_FILE_NAME",
    "PYTHON_BUILTINS",
    "RESERVED_CLASS_NAMES",
    "RESERVED_DOMAIN_NAMES",
    "RESERVED_NAMES",
    "RUNTIME_IMPORTS",
]

BUILTIN_TYPES = (
    "String",
    "Text",
    "Integer",
    "Float",
    "Decimal",
    "Boolean",
    "Date",
    "DateTime",
    "Identifier",
    "Enum",
    "List",
)
"""The field types every domain has, in the order the documentation lists them."""

RESERVED_NAMES = frozenset(
    {
        # attributes and methods of the runtime's Aggregate and Event
        "apply",
        "category",
        "from_data",
        "id",
        "metadata",
        "pending_events",
        "raise_",
        "stream_name",
        "to_data",
        "type_name",
        # names generated methods use for themselves, and decorators of class bodies
        # (a class attribute of that name would hide the decorator below it)
        "classmethod",
        "cls",
        "property",
        "self",
        "staticmethod",
        # builtins and modules that generated code uses by name
        "bool",
        "bytes",
        "dataclasses",
        "datetime",
        "decimal",
        "dict",
        "enum",
        "float",
        "frozenset",
        "int",
        "isinstance",
        "len",
        "list",
        "object",
        "set",
        "str",
        "super",
        "tuple",
        "type",
        "typing",
        "uuid",
    }
)
"""snake_case names no field or command may take (`id` only as the identifier)."""

RESERVED_CLASS_NAMES = frozenset(
    {
        *BUILTIN_TYPES,
        *RESERVED_IMPORTS,
        "StrEnum",
        "UnitOfWork",
        *(name for name in dir(builtins) if name[:1].isupper()),
    }
)
"""PascalCase names no aggregate, event, value object or enum may take."""

EVENT_METHODS = frozenset({"upcast"})
"""snake_case names no event field may take (methods of generated events)."""

PYTHON_BUILTINS = frozenset(dir(builtins))

RUNTIME_IMPORTS = frozenset(
    {
        "orjson",
        "psycopg",
        "psycopg_binary",
        "psycopg_c",
        "psycopg_pool",
        "typing_extensions",
        # the jetstream extra: nats-py
        "nats",
    }
)
"""Top-level modules the runtime (so every app using generated code) imports."""

GENERATOR_IMPORTS = frozenset(
    {
        # what the generator imports: YAML, JSON Schema, Jinja2, black
        "yaml",
        "jsonschema",
        "jinja2",
        "black",
        # and what they import in turn
        "attr",
        "attrs",
        "blib2to3",
        "click",
        "jsonschema_specifications",
        "markupsafe",
        "mypy_extensions",
        "packaging",
        "pathspec",
        "platformdirs",
        "pytokens",
        "referencing",
        "rpds",
        "tomli",
        # jsonschema's format checks import it when it is installed
        "idna",
    }
)
"""Top-level modules the generator imports (with the output on `sys.path`, they break)."""

RESERVED_DOMAIN_NAMES = frozenset(
    {"aggregen", *sys.stdlib_module_names, *RUNTIME_IMPORTS, *GENERATOR_IMPORTS}
)
"""Domain names that would shadow aggregen or a module it or generated code imports."""

MAX_FILE_NAME = 255
"""The longest file name (in bytes) Linux, macOS and Windows file systems take."""

LONGEST_MODULE_SUFFIX = "_upcasters.py"
"""The longest ending of an aggregate's generated file names (see `model`)."""

DOCS_PAGE_SUFFIX = ".md"
"""The ending of the domain's page that `aggregen docs` writes."""
