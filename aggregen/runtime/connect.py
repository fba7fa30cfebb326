"""`connect`: an event store from a URI or the `AGGREGEN_EVENT_STORE` environment variable."""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigurationError
from .extras import import_runtime_module
from .store import EventStore

__all__ = ["EVENT_STORE_VARIABLE", "connect"]

EVENT_STORE_VARIABLE = "AGGREGEN_EVENT_STORE"


def connect(uri: str | None = None, **options: Any) -> EventStore:
    """An event store for `uri`: `memory://` or `postgresql://user@host:port/db`.

    Without `uri`, `AGGREGEN_EVENT_STORE` is read, else `memory://` is used. The
    scheme is case-insensitive. `options` go to `MessageDBEventStore`. Raises
    `ConfigurationError` for other schemes and for URIs that cannot be read,
    `EventStoreError` when the database is out of reach. No message, and no local
    variable of a frame on the traceback, holds a password from the URI.
    """
    if uri is None:
        uri = os.environ.get(EVENT_STORE_VARIABLE) or "memory://"
    try:
        return _open(uri, options)
    except BaseException:
        uri = None  # error reporters capture the locals of each frame on a traceback
        raise


def _open(uri: str, options: dict[str, Any]) -> EventStore:
    """The store for `uri`; clears `uri` before anything is raised from this frame."""
    # Only a message may need them; urllib.parse and ipaddress stay out of the import.
    from .redaction import redact_uri, userinfo_problem

    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("postgresql", "postgres"):
        messagedb = import_runtime_module("messagedb", "connect(postgresql://...)")
        try:
            store: EventStore = messagedb.MessageDBEventStore(uri, **options)
        except BaseException:
            uri = ""
            raise
        return store
    problem = userinfo_problem(uri)
    if problem is None and scheme == "memory":
        if uri.rstrip("/").lower() == "memory:":
            from .memory import InMemoryEventStore  # on first use: threads, bisect, partitions

            return InMemoryEventStore()
        problem = f"memory:// takes no host or path, not {redact_uri(uri)!r}"
    elif problem is None:
        problem = (
            f"unsupported event store URI {redact_uri(uri)!r}: use memory:// or "
            "postgresql://user@host:port/database"
        )
    uri = ""
    raise ConfigurationError(problem)
