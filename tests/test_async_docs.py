"""docs/async.md's examples run as written: in order, in one namespace and one event
loop, on the in-memory store, with the generated `identity` package; then the page's
Starlette app answers through the test client."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sys
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ROOT


def python_blocks() -> list[str]:
    text = (ROOT / "docs" / "async.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_async_page_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "generated"))
    monkeypatch.delenv("AGGREGEN_EVENT_STORE", raising=False)
    for name in [m for m in sys.modules if m == "identity" or m.startswith("identity.")]:
        monkeypatch.delitem(sys.modules, name)
    blocks = python_blocks()
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__name__": "async_docs"}

    async def run_all() -> None:
        for number, block in enumerate(blocks, 1):
            code = compile(
                block, f"docs/async.md example {number}", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            outcome = eval(code, namespace)  # top-level await: a coroutine to await
            if inspect.iscoroutine(outcome):
                await outcome

    asyncio.run(run_all())
    renamed = namespace["renamed"]
    assert renamed.first_name == "Ada"

    with TestClient(namespace["app"]) as client:  # its lifespan opens a new in-memory store
        response = client.get(f"/users/{renamed.id}")
        assert response.status_code == 404
        assert response.json() == {"error": "no such user"}
        user = namespace["User"].register(email="ann@example.org")
        assert client.portal is not None  # the app's event loop, while the client is open
        client.portal.call(namespace["app"].state.users.add, user)
        found = client.get(f"/users/{user.id}")
        assert found.json() == {"id": user.id, "email": "ann@example.org", "first_name": None}
