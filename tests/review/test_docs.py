"""`aggregen docs`: a golden page, escaping of schema strings, determinism, --check."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

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
