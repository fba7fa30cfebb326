"""An asyncio web app on the generated `identity` package, with Starlette.

    POST  /users       {"email", "first_name"?, "joined_on"?}  201 the user; 422 invalid
    GET   /users/{id}                                           200 the user; 404 unknown
    PATCH /users/{id}  {"first_name", "version"?}               200 the user; 404, 422, or
                       409 when the user changed since `version` (or while renaming)

The event store comes from `AGGREGEN_EVENT_STORE` (memory:// by default, or a
postgresql:// URI of MessageDB). It is opened when the app starts, inside the event
loop that serves the requests, and closed when it stops. Serve it with any ASGI server
(`uvicorn examples.async_app:app` from the repository root, after `aggregen
generate`), or drive it with Starlette's test client (tests/test_example_async.py).
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aggregen.runtime import (
    AggregateNotFoundError,
    AsyncEventStore,
    AsyncInMemoryEventStore,
    AsyncMessageDBEventStore,
    AsyncRepository,
    ExpectedVersionError,
    ValidationError,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generated"))

from identity import User


def open_store() -> AsyncEventStore:
    """The async store that `AGGREGEN_EVENT_STORE` names; memory:// when it is unset."""
    uri = os.environ.get("AGGREGEN_EVENT_STORE") or "memory://"
    if uri.lower().startswith("memory:"):
        return AsyncInMemoryEventStore()
    return AsyncMessageDBEventStore(uri)


def user_repository(store: AsyncEventStore) -> AsyncRepository[User]:
    """The repository the routes use."""
    return AsyncRepository(User, store)


def shown(user: User) -> dict[str, Any]:
    """The user as JSON."""
    joined_on = None if user.joined_on is None else user.joined_on.isoformat()
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "joined_on": joined_on,
        "version": user._version,
    }


def problem(status: int, message: str, **details: Any) -> JSONResponse:
    """An error response: `{"error": message, ...details}`."""
    return JSONResponse({"error": message, **details}, status_code=status)


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object; a `ValueError` when it is not one."""
    try:
        data = await request.json()
    except ValueError as error:
        raise ValueError(f"the body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def register(request: Request) -> JSONResponse:
    """POST /users: register a user; 201 with its URL in `Location`."""
    users: AsyncRepository[User] = request.app.state.users
    try:
        data = await body(request)
        joined_on = data.get("joined_on")
        fields: dict[str, Any] = {  # the aggregate validates them: a missing email too
            "email": data.get("email"),
            "first_name": data.get("first_name"),
            "joined_on": None if joined_on is None else datetime.date.fromisoformat(joined_on),
        }
        user = User.register(**fields)
    except ValidationError as error:
        return problem(422, str(error), fields=error.messages)
    except (ValueError, TypeError) as error:
        return problem(422, str(error))
    await users.add(user)
    return JSONResponse(shown(user), status_code=201, headers={"Location": f"/users/{user.id}"})


async def get_user(request: Request) -> JSONResponse:
    """GET /users/{id}: the user; 404 when there is none."""
    users: AsyncRepository[User] = request.app.state.users
    try:
        user = await users.get(request.path_params["user_id"])
    except AggregateNotFoundError as error:
        return problem(404, str(error))
    return JSONResponse(shown(user))


async def rename(request: Request) -> JSONResponse:
    """PATCH /users/{id}: rename the user.

    With `version`, the user as it was at that version is renamed, and the write
    expects the stream to be still there: when it moved on, the store raises
    `ExpectedVersionError` and the answer is 409, as it is when another request
    renamed the user between this one's read and write.
    """
    users: AsyncRepository[User] = request.app.state.users
    user_id = request.path_params["user_id"]
    try:
        data = await body(request)
        version = data.get("version")
        if version is not None and (not isinstance(version, int) or version < 0):
            raise ValueError("version must be a whole number, 0 or more")
        user = await users.get(user_id, version=version)
        user.rename(first_name=data.get("first_name", ""))
        await users.add(user)
    except AggregateNotFoundError as error:
        return problem(404, str(error))
    except ExpectedVersionError as conflict:
        return problem(409, str(conflict), version=conflict.actual_version)
    except ValidationError as error:
        return problem(422, str(error), fields=error.messages)
    except ValueError as error:  # also a version the user never had
        return problem(422, str(error))
    return JSONResponse(shown(user))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the store in the serving event loop; close it when the app stops."""
    store = open_store()
    app.state.users = user_repository(store)
    try:
        yield
    finally:
        await store.close()


def create_app() -> Starlette:
    """The app: three routes over one async store."""
    return Starlette(
        routes=[
            Route("/users", register, methods=["POST"]),
            Route("/users/{user_id}", get_user, methods=["GET"]),
            Route("/users/{user_id}", rename, methods=["PATCH"]),
        ],
        lifespan=lifespan,
    )


app = create_app()
