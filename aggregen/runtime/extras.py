"""Modules of the runtime that need an optional dependency, imported on first use.

The runtime alone needs the standard library and orjson; MessageDB and PostgreSQL
projections need psycopg, installed by the `messagedb` extra; JetStream needs
nats-py, installed by the `jetstream` extra.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

__all__ = ["JETSTREAM_EXTRA", "MESSAGEDB_EXTRA", "import_runtime_module"]

MESSAGEDB_EXTRA = "aggregen[messagedb]"
JETSTREAM_EXTRA = "aggregen[jetstream]"

_NEEDS_PSYCOPG = frozenset({"psycopg", "psycopg_pool", "psycopg_binary"})


def import_runtime_module(name: str, wanted: str) -> ModuleType:
    """`aggregen.runtime.<name>`, imported for `wanted` (a name, for the message).

    Raises `ModuleNotFoundError` naming the extra to install when psycopg is missing.
    """
    try:
        return import_module(f"aggregen.runtime.{name}")
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing == "nats":
            package, extra = "nats-py", JETSTREAM_EXTRA
        elif missing in _NEEDS_PSYCOPG:
            package, extra = "psycopg", MESSAGEDB_EXTRA
        else:
            raise
        raise ModuleNotFoundError(
            f"{wanted} needs {package}, which is not installed: pip install '{extra}'",
            name=error.name,
        ) from error
