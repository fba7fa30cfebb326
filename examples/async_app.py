"""An asyncio web app on the generated `identity` package, with Starlette.

    POST  /users       {"email", "first_name"?, "joined_on"?}  201 the user; 422 invalid
    GET   /users?email=                                         200 the users with that email
    GET   /users/{id}                                           200 the user; 404 unknown
    PATCH /users/{id}  {"first_name", "version"?}               200 the user; 404, 422, or
                       409 when the user changed since `version` (or while renaming)

The event store comes from `AGGREGEN_EVENT_STORE` (memory:// by default, or a
postgresql:// URI of MessageDB). It is opened when the app starts, inside the event
loop that serves the requests, and closed when it stops.

The read side: `UsersByEmail`, a generated `AsyncUserHandler`, is projected by an
`AsyncProjector` that runs beside the requests from start to stop, into the table
`users_by_email` of `AGGREGEN_APP_DATABASE` (a PostgreSQL URI; SQLite in memory by
default), exactly once. `GET /users?email=` reads that table: it sees a user shortly
after the user registered (the projector polls every 0.1 s). Serve it with any ASGI server
(`uvicorn examples.async_app:app` from the repository root, after `aggregen
generate`), or drive it with Starlette's test client (tests/test_example_async.py).
"""

from __future__ import annotations

import asyncio
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
    AsyncPostgresProjectionTarget,
    AsyncProjectionTarget,
    AsyncProjector,
    AsyncSQLiteProjectionTarget,
    ExpectedVersionError,
    ValidationError,
    connect_async,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "generated"))

from identity import AsyncUserHandler, AsyncUserRepository, Registered, User

USERS_BY_EMAIL = (
    "CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, user_id text NOT NULL)"
)


class UsersByEmail(AsyncUserHandler):
    """The read model: which user registered with each email (the latest one wins)."""

    async def on_registered(self, event: Registered) -> None:
        await self.session.execute(  # inside the projector's transaction
            "INSERT INTO users_by_email (email, user_id) VALUES (%s, %s) "
            "ON CONFLICT (email) DO UPDATE SET user_id = excluded.user_id",
            (event.email, self.aggregate_id(event)),
        )


def open_read_model() -> AsyncProjectionTarget:
    """PostgreSQL at `AGGREGEN_APP_DATABASE`; else SQLite in memory."""
    uri = os.environ.get("AGGREGEN_APP_DATABASE")
    return AsyncPostgresProjectionTarget(uri) if uri else AsyncSQLiteProjectionTarget()


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
    users: AsyncUserRepository = request.app.state.users
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


async def find_users(request: Request) -> JSONResponse:
    """GET /users?email=: the users the read model knows by that email (none or one)."""
    email = request.query_params.get("email")
    if email is None:
        return problem(422, "the query parameter email is required")
    read_model: AsyncProjectionTarget = request.app.state.read_model
    async with read_model.session() as session:
        cursor = await session.execute(
            "SELECT user_id FROM users_by_email WHERE email = %s", (email,)
        )
        rows = await cursor.fetchall()
    users: AsyncUserRepository = request.app.state.users
    return JSONResponse({"users": [shown(await users.get(user_id)) for (user_id,) in rows]})


async def get_user(request: Request) -> JSONResponse:
    """GET /users/{id}: the user; 404 when there is none."""
    users: AsyncUserRepository = request.app.state.users
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
    users: AsyncUserRepository = request.app.state.users
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
    """Open the store and the read model in the serving event loop, and run the
    projector beside the requests; stop it and close both when the app stops."""
    async with connect_async() as store:  # AGGREGEN_EVENT_STORE, else memory://
        read_model = open_read_model()
        try:
            async with read_model.session() as session:
                await session.execute(USERS_BY_EMAIL)
            projector = AsyncProjector(
                store, User.category(), UsersByEmail(), read_model, name="users_by_email"
            )
            projecting = asyncio.create_task(projector.run())
            app.state.users = AsyncUserRepository(store)
            app.state.read_model = read_model
            try:
                yield
            finally:
                projector.stop()  # after the message in hand, its position recorded
                await projecting
        finally:
            await read_model.close()


def create_app() -> Starlette:
    """The app: four routes over one async store and one read model."""
    return Starlette(
        routes=[
            Route("/users", register, methods=["POST"]),
            Route("/users", find_users, methods=["GET"]),
            Route("/users/{user_id}", get_user, methods=["GET"]),
            Route("/users/{user_id}", rename, methods=["PATCH"]),
        ],
        lifespan=lifespan,
    )


app = create_app()
