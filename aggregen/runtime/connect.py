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

    Without `uri`, `AGGREGEN_EVENT_STORE` is read, else `memory://` is used.
    `options` go to `MessageDBEventStore`. Raises `ConfigurationError` for other
    schemes, `EventStoreError` when the database is out of reach.
    """
    if uri is None:
        uri = os.environ.get(EVENT_STORE_VARIABLE) or "memory://"
    # Only a message may need it; urllib.parse and ipaddress stay out of the import.
    from .redaction import redact_uri

    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "memory":
        if uri.rstrip("/") != "memory:":
            raise ConfigurationError(f"memory:// takes no host or path, not {uri!r}")
        from .memory import InMemoryEventStore  # on first use: threads, bisect, partitions

        return InMemoryEventStore()
    if scheme in ("postgresql", "postgres"):
        messagedb = import_runtime_module("messagedb", f"connect({redact_uri(uri)!r})")
        store: EventStore = messagedb.MessageDBEventStore(uri, **options)
        return store
    raise ConfigurationError(
        f"unsupported event store URI {redact_uri(uri)!r}: use memory:// or "
        "postgresql://user@host:port/database"
    )
