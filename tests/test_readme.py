"""The README's Python examples run as written."""

from __future__ import annotations

import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_has_python_examples() -> None:
    assert python_blocks()


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_a_readme_example_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "generated"))
    monkeypatch.delenv("AGGREGEN_EVENT_STORE", raising=False)
    for name in [m for m in sys.modules if m == "identity" or m.startswith("identity.")]:
        monkeypatch.delitem(sys.modules, name)
    code = compile(python_blocks()[index], f"README.md example {index + 1}", "exec")
    exec(code, {"__name__": "readme_example"})
