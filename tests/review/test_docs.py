"""`aggregen docs`: a golden page, escaping of schema strings, determinism, --check."""

from __future__ import annotations

import argparse
import errno
import io
import os
from pathlib import Path
from typing import Any

import pytest

from aggregen.generator import docs as docs_module
from aggregen.generator.docs import (
    check_docs,
    markdown_cell,
    markdown_code,
    mermaid_label,
    render_docs,
    write_docs,
)
from aggregen.review.cli import add_review_commands, run_docs
from aggregen.review.lock import update_lock

from .support import load_schemas

CASE = Path(__file__).parent / "docs_case"
UPDATE = os.environ.get("AGGREGEN_UPDATE_CATALOGUE") == "1"


def test_golden_page(tmp_path: Path) -> None:
    update_lock(load_schemas([CASE / "v1.yaml"]), tmp_path / "aggregen.lock.json")
    lock = update_lock(load_schemas([CASE / "shop.yaml"]), tmp_path / "aggregen.lock.json")
    pages = render_docs(load_schemas([CASE / "shop.yaml"]), lock)
    assert list(pages) == ["shop.md"]
    golden = CASE / "shop.md"
    if UPDATE:
        golden.write_text(pages["shop.md"], encoding="utf-8")
    assert pages["shop.md"] == golden.read_text(encoding="utf-8")
    assert pages == render_docs(load_schemas([CASE / "shop.yaml"]), lock)


def _placed_rows(page: str) -> dict[str, list[str]]:
    """The Placed event's table: first cell -> the other cells."""
    table = page.split("### Event Placed", 1)[1].split("### Event Shipped", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {row.split(" | ")[0][2:]: row.split(" | ")[1:] for row in rows}


def _page_with_history(tmp_path: Path) -> str:
    update_lock(load_schemas([CASE / "v1.yaml"]), tmp_path / "aggregen.lock.json")
    lock = update_lock(load_schemas([CASE / "shop.yaml"]), tmp_path / "aggregen.lock.json")
    return render_docs(load_schemas([CASE / "shop.yaml"]), lock)["shop.md"]


def test_each_event_field_shows_the_state_field_it_sets(tmp_path: Path) -> None:
    page = _page_with_history(tmp_path)
    assert "| Field | Type | Required | Default | Sets | Versions | Description |" in page
    rows = _placed_rows(page)
    assert rows["`buyer` (was `customer`)"][3] == "`customer`"  # maps: {buyer: customer}
    assert rows["`total`"][3] == ""  # maps: {total: null}
    assert rows["`channel`"][3] == "`channel`"  # same name, no maps entry
    assert rows["`ship_to`"][3] == ""  # no state field of that name
    assert rows["`note`"][3] == "`note` (when not null)"  # optional into a defaulted field


def test_an_enum_field_shows_its_values_per_version(tmp_path: Path) -> None:
    rows = _placed_rows(_page_with_history(tmp_path))
    assert rows["`size`"][4] == "1: `m`, `s`; 2: `l`, `m`, `s`"
    assert rows["`channel`"][4] == "2"  # one version: no values repeated


def test_patterns_are_code_spans_not_escaped_prose() -> None:
    page = render_docs(load_schemas([CASE / "shop.yaml"]))["shop.md"]
    assert "| `postcode` | String (pattern `[0-9]{5}\\|x`) | no |" in page
    assert "pattern `` ^\\d+\\|`x`$ ``" in page
    assert "\\[0-9\\]" not in page


def test_schema_strings_cannot_inject_markup() -> None:
    page = render_docs(load_schemas([CASE / "shop.yaml"]))["shop.md"]
    assert "<script>" not in page
    assert "<b>" not in page
    assert "[a link](" not in page
    assert "\n# not a heading" not in page
    body = page.split("```mermaid", 1)[1].split("```", 1)[0]
    assert '"' not in body.replace('["', "").replace('"]', "").replace('("', "").replace('")', "")


def test_escaping_helpers() -> None:
    assert markdown_cell("a | b <i> *c*") == "a \\| b &lt;i&gt; \\*c\\*"
    assert markdown_cell("1. x") == "1\\. x"
    assert markdown_code("a`b|c") == "`` a`b\\|c ``"
    assert mermaid_label('say "hi" <x>') == "say #34;hi#34; #60;x#62;"


def test_write_and_check(tmp_path: Path) -> None:
    documents = load_schemas([CASE / "shop.yaml"])
    out = tmp_path / "docs"
    assert check_docs(documents, out) == [out / "shop.md"]
    assert write_docs(documents, out) == [out / "shop.md"]
    assert write_docs(documents, out) == []
    assert check_docs(documents, out) == []
    (out / "shop.md").write_text("edited", encoding="utf-8")
    assert check_docs(documents, out) == [out / "shop.md"]


def test_docs_command(tmp_path: Path, monkeypatch: object) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "shop.yaml").write_text((CASE / "v1.yaml").read_text(), encoding="utf-8")
    parser = argparse.ArgumentParser(prog="aggregen")
    add_review_commands(parser.add_subparsers(dest="command"))
    out = str(tmp_path / "out")
    stdout = io.StringIO()
    arguments = parser.parse_args(["docs", str(schemas), "--out", out])
    assert run_docs(arguments, stdout, io.StringIO()) == 0
    assert stdout.getvalue() == f"aggregen: 1 page(s) written in {Path(out).as_posix()}\n"
    check = parser.parse_args(["docs", str(schemas), "--out", out, "--check"])
    assert run_docs(check, io.StringIO(), io.StringIO()) == 0
    (schemas / "shop.yaml").write_text(
        (CASE / "v1.yaml").read_text().replace("coupon: String", "coupon: Text"), "utf-8"
    )
    stdout = io.StringIO()
    assert run_docs(check, stdout, io.StringIO()) == 1
    assert "stale: " in stdout.getvalue()


def test_a_write_that_fails_leaves_the_old_page_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page is replaced all at once: a write cut short (here the disk filling up
    halfway) leaves the old text and no temporary file behind."""
    documents = load_schemas([CASE / "shop.yaml"])
    out = tmp_path / "docs"
    out.mkdir()
    (out / "shop.md").write_text("the old page\n", encoding="utf-8")
    real_fdopen = os.fdopen

    class HalfWritten:
        """A file that takes half of what is written, then finds the disk full."""

        def __init__(self, file: Any) -> None:
            self.file = file

        def __enter__(self) -> HalfWritten:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.file.close()

        def write(self, text: str) -> int:
            self.file.write(text[: len(text) // 2])
            self.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    def half_written(fd: int, *args: Any, **kwargs: Any) -> HalfWritten:
        return HalfWritten(real_fdopen(fd, *args, **kwargs))

    monkeypatch.setattr(os, "fdopen", half_written)
    with pytest.raises(OSError, match="No space left"):
        write_docs(documents, out)
    monkeypatch.undo()
    assert (out / "shop.md").read_text(encoding="utf-8") == "the old page\n"
    assert sorted(p.name for p in out.iterdir()) == ["shop.md"]


def test_a_field_that_became_an_enum_shows_its_earlier_type() -> None:
    """Versions where the field was no enum show their type, not an empty value list."""
    found: dict[int, dict[str, Any]] = {
        1: {"kind": "Text"},
        2: {"kind": "Enum", "values": ["damaged", "other"]},
        3: {"kind": "Enum", "values": ["damaged", "other"]},
    }
    assert docs_module._versions_text(found) == "1: Text; 2-3: `damaged`, `other`"
