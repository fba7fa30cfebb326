"""The hand-written code that generated code calls: is it there, and written?

Generated events call `upcast_<event>(data, version)` in the hand-written module
`<aggregate>_upcasters.py` for the versions their schema lists under
`hand_written_upcast`. The module is created once with a stub of each function
needed then; a function needed later must be added by hand. `unwritten_upcasters`
reads the modules (with `ast`, never importing them) and names each function that
is missing or still the stub, for `aggregen check` to refuse.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from .modeltypes import DomainModel, HandWrittenUpcaster

__all__ = ["unwritten_upcasters"]

SIGNATURE = "(data: dict[str, Any], version: int) -> dict[str, Any]"


def unwritten_upcasters(domains: Sequence[DomainModel], out: Path) -> list[str]:
    """`path:line:col: message` for each needed upcaster function missing or still a stub.

    A module that does not exist yet is not reported here (`check` reports it as
    missing; `generate` creates it).
    """
    problems: list[str] = []
    for domain in domains:
        for aggregate in domain.aggregates:
            if not aggregate.upcasters:
                continue
            path = out / domain.package / f"{aggregate.upcasters_module}.py"
            shown = path.as_posix()
            try:
                source = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as error:
                problems.append(f"{shown}:1:1: cannot read the hand-written upcasters: {error}")
                continue
            try:
                tree = ast.parse(source, filename=shown)
            except SyntaxError as error:
                problems.append(f"{shown}:{error.lineno or 1}:1: not valid Python: {error.msg}")
                continue
            functions, other_names = _top_level(tree)
            for upcaster in aggregate.upcasters:
                node = functions.get(upcaster.function)
                if node is None and upcaster.function not in other_names:
                    problems.append(f"{shown}:1:1: {_missing(upcaster)}")
                elif node is not None and _is_stub(node):
                    problems.append(
                        f"{shown}:{node.lineno}:{node.col_offset + 1}: {upcaster.function} still "
                        f"raises NotImplementedError: write the upcaster of {upcaster.event} "
                        f"from version {_listed(upcaster)}"
                    )
    return problems


def _listed(upcaster: HandWrittenUpcaster) -> str:
    return ", ".join(str(v) for v in upcaster.versions)


def _missing(upcaster: HandWrittenUpcaster) -> str:
    return (
        f"no function {upcaster.function}: event {upcaster.event} lists version "
        f"{_listed(upcaster)} under `hand_written_upcast`; add "
        f"`def {upcaster.function}{SIGNATURE}` returning data the current version reads"
    )


def _top_level(
    tree: ast.Module,
) -> tuple[dict[str, ast.FunctionDef | ast.AsyncFunctionDef], set[str]]:
    """Functions defined at the top level, and the other names bound there."""
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    others: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            others |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            others |= {t.id for t in targets if isinstance(t, ast.Name)}
    return functions, others


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the body (after a docstring) only raises NotImplementedError."""
    body = list(node.body)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise):
        return False
    raised = body[0].exc
    if isinstance(raised, ast.Call):
        raised = raised.func
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
