"""`connect` and `connect_async`: an event store from a URI or `AGGREGEN_EVENT_STORE`."""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigurationError
from .extras import import_runtime_module
from .store import AsyncEventStore, EventStore

__all__ = ["EVENT_STORE_VARIABLE", "READ_URI_VARIABLE", "connect", "connect_async"]

EVENT_STORE_VARIABLE = "AGGREGEN_EVENT_STORE"
READ_URI_VARIABLE = "AGGREGEN_EVENT_STORE_READ_URI"
"""A streaming replica's URI, used with `AGGREGEN_EVENT_STORE` (never with a URI given)."""

_STORES = {
    ("memory", False): ("memory", "InMemoryEventStore"),
    ("memory", True): ("memory", "AsyncInMemoryEventStore"),
    ("postgresql", False): ("messagedb", "MessageDBEventStore"),
    ("postgresql", True): ("messagedb_async", "AsyncMessageDBEventStore"),
    ("nats", False): ("jetstream", "JetStreamEventStore"),
    ("nats", True): ("jetstream", "AsyncJetStreamEventStore"),
}
"""(kind of URI, async) -> the runtime module and class of the store."""


def connect(uri: str | None = None, **options: Any) -> EventStore:
    """An event store for `uri`: `memory://`, `postgresql://user@host:port/db`, or
    `nats://host1:4222,host2:4222,host3:4222/prefix` (NATS JetStream, docs/jetstream.md).

    Without `uri`, `AGGREGEN_EVENT_STORE` is read (and with it
    `AGGREGEN_EVENT_STORE_READ_URI`, the replica), else `memory://` is used. The
    scheme is case-insensitive. `options` go to `MessageDBEventStore`; among them
    `read_uri`, a streaming replica for consumers' reads (a URI of its own rather
    than a parameter of `uri`: each keeps its own user and password, and neither
    is quoted inside the other). Raises `ConfigurationError` for other schemes and
    for URIs that cannot be read, `EventStoreError` when the database is out of
    reach. No message, and no local variable of a frame on the traceback, holds a
    password from either URI.
    """
    try:
        store: EventStore = _open(uri, options, asynchronous=False)
    except BaseException:
        uri = None  # error reporters capture the locals of each frame on a traceback
        options.clear()  # `read_uri`
        raise
    return store


def connect_async(uri: str | None = None, **options: Any) -> AsyncEventStore:
    """The async event store for `uri`: `connect`'s URIs, variable, errors and secrecy.

    Gives an `AsyncInMemoryEventStore` or an `AsyncMessageDBEventStore` (`options`
    go to it). Not a coroutine: no connection is made until the store is first
    used, so it can run at import time; close the store with `await store.close()`
    or `async with`. Raises `ConfigurationError` as `connect` does.
    """
    try:
        store: AsyncEventStore = _open(uri, options, asynchronous=True)
    except BaseException:
        uri = None  # as in `connect`
        options.clear()
        raise
    return store


def _open(uri: str | None, options: dict[str, Any], *, asynchronous: bool) -> Any:
    """The store for `uri`; clears `uri` before anything is raised from this frame."""
    if uri is None:
        uri = os.environ.get(EVENT_STORE_VARIABLE) or "memory://"
        if os.environ.get(READ_URI_VARIABLE) and "read_uri" not in options:
            options["read_uri"] = os.environ[READ_URI_VARIABLE]
    try:
        kind = _kind(uri)
        module, name = _STORES[kind, asynchronous]
        if kind == "memory":  # imported on first use: threads, bisect, partitions
            return getattr(import_runtime_module(module, name), name)()
        store_class = getattr(import_runtime_module(module, f"connect({kind}://...)"), name)
        return store_class(uri, **options)
    except BaseException:
        uri = ""
        options.clear()
        raise


def _kind(uri: str) -> str:
    """`postgresql` or `memory`; raises `ConfigurationError`, with no password, for others.

    A PostgreSQL URI is read by the store itself, which redacts its own errors.
    """
    # Only a message may need them; urllib.parse and ipaddress stay out of the import.
    from .redaction import redact_uri, userinfo_problem

    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    if scheme == "nats":
        return "nats"
    problem = userinfo_problem(uri)
    if problem is None and scheme == "memory":
        if uri.rstrip("/").lower() == "memory:":
            return "memory"
        problem = f"memory:// takes no host or path, not {redact_uri(uri)!r}"
    elif problem is None:
        problem = (
            f"unsupported event store URI {redact_uri(uri)!r}: use memory://, "
            "postgresql://user@host:port/database or nats://host:4222/prefix"
        )
    uri = ""
    raise ConfigurationError(problem)
