"""The review commands: `aggregen lock`, `aggregen breaking`, `aggregen docs`.

`add_review_commands(subparsers)` adds them to the main parser; each sets
`handler` to a function taking the parsed namespace and returning the exit status.
Exit status: 0 success; 1 a blocking finding, stale docs or invalid input (schema
errors are printed as `path:line:col: message`); 2 a base that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aggregen.generator.config import read_defaults, schema_paths
from aggregen.generator.docs import check_docs, write_docs
from aggregen.generator.errors import SchemaErrors

from .acceptance import ACCEPTED_FILE_NAME, apply_acceptances, read_accepted
from .against import AgainstError, load_against
from .compare import find_breaking_changes
from .finding import exit_code
from .lock import default_lock_path, merge_locks, read_lock, update_lock
from .report import FORMATS, render

if TYPE_CHECKING:
    from aggregen.generator.load import SchemaDocument

__all__ = ["SCHEMAS_HELP", "add_review_commands", "run_breaking", "run_docs", "run_lock"]

SCHEMAS_HELP = (
    "schema files or directories of *.yaml (default: tool.aggregen.schemas, else ./schemas)"
)

DEFAULT_DOCS_DIR = "docs/domains"


def add_review_commands(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add `lock`, `breaking` and `docs` to `subparsers` (from `add_subparsers`).

    `parents` are parsers whose options every command takes (such as `-q`).
    """
    command = subparsers.add_parser(
        "lock",
        parents=list(parents),
        help="record the wire shape of every current event version in the lock file",
        description="Add the current version of every event to the lock file (never drops one).",
    )
    command.add_argument("schemas", nargs="*", metavar="SCHEMAS", help=SCHEMAS_HELP)
    command.add_argument("--lock", metavar="FILE", help="lock file (default: next to the schemas)")
    command.add_argument(
        "--replace",
        action="store_true",
        help="overwrite locked versions that changed in place (only if never released)",
    )
    command.set_defaults(handler=run_lock)

    command = subparsers.add_parser(
        "breaking",
        parents=list(parents),
        help="find schema changes that break stored events or generated code",
        description="Compare the schemas with REF (a git ref or a directory) and with "
        "every version in the lock file.",
    )
    command.add_argument("schemas", nargs="*", metavar="SCHEMAS", help=SCHEMAS_HELP)
    command.add_argument(
        "--against", required=True, metavar="REF", help="git ref or directory of the base"
    )
    command.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="output format: text, markdown (a pull request comment), json (versioned, "
        "docs/ci.md) or github (workflow annotations)",
    )
    command.add_argument("--lock", metavar="FILE", help="lock file (default: next to the schemas)")
    command.add_argument(
        "--accepted",
        metavar="FILE",
        help=f"accepted breaks (default: {ACCEPTED_FILE_NAME} next to the schemas)",
    )
    command.set_defaults(handler=run_breaking)

    command = subparsers.add_parser(
        "docs",
        parents=list(parents),
        help="write a Markdown page per domain",
        description="Write a Markdown page per domain: a diagram and tables of its events.",
    )
    command.add_argument("schemas", nargs="*", metavar="SCHEMAS", help=SCHEMAS_HELP)
    command.add_argument(
        "--out",
        metavar="DIR",
        help=f"output directory (default: tool.aggregen.docs, else {DEFAULT_DOCS_DIR})",
    )
    command.add_argument("--lock", metavar="FILE", help="lock file (default: next to the schemas)")
    command.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a page is stale"
    )
    command.set_defaults(handler=run_docs)


def _schemas(arguments: argparse.Namespace) -> list[str]:
    given: Sequence[str] = arguments.schemas or ()
    return schema_paths(given, read_defaults())


def _partial(arguments: argparse.Namespace) -> bool:
    """Whether the schemas named are some of the configured ones (`pipeline.is_partial`)."""
    from aggregen.generator.pipeline import is_partial

    configured = read_defaults().schemas
    return configured is not None and is_partial(arguments.schemas or (), configured)


def _domains(documents: Sequence[SchemaDocument]) -> set[str]:
    return {str(document.data.get("domain")) for document in documents}


def _lock_path(arguments: argparse.Namespace, schemas: Sequence[str]) -> Path:
    given = getattr(arguments, "lock", None)
    return Path(given) if given else default_lock_path(schemas)


def _errors(error: SchemaErrors, stderr: TextIO, outcome: str = "") -> int:
    for problem in error.errors:
        stderr.write(f"{problem}\n")
    stderr.write(
        f"aggregen: {len(error.errors)} error(s)" + (f"; {outcome}" if outcome else "") + "\n"
    )
    return 1


def run_lock(
    arguments: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`aggregen lock [SCHEMAS] [--lock FILE] [--replace]`."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    schemas = _schemas(arguments)
    path = _lock_path(arguments, schemas)
    try:
        documents = load_and_validate(schemas)
        before = read_lock(path)
        lock = update_lock(
            documents,
            path,
            replace=bool(getattr(arguments, "replace", False)),
            partial=_partial(arguments),
        )
    except SchemaErrors as error:
        return _errors(error, stderr, f"{path.as_posix()} left as it was")
    added = sum(1 for _ in lock.events()) - (sum(1 for _ in before.events()) if before else 0)
    stdout.write(f"aggregen: {path.as_posix()}: {added} event version(s) added\n")
    return 0


def run_breaking(
    arguments: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`aggregen breaking --against REF [--format F] [--lock FILE] [--accepted FILE] [SCHEMAS]`."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    schemas = _schemas(arguments)
    lock_path = _lock_path(arguments, schemas)
    accepted_path = (
        Path(arguments.accepted)
        if getattr(arguments, "accepted", None)
        else lock_path.parent / ACCEPTED_FILE_NAME
    )
    try:
        documents = load_and_validate(schemas)
        base = load_against(
            arguments.against, schemas, loader=load_and_validate, lock_path=lock_path
        )
        lock = merge_locks(read_lock(lock_path), base.lock)
        base_documents = base.documents
        if _partial(arguments):
            # Some of the schemas: compare their domains only.
            domains = _domains(documents)
            base_documents = [d for d in base_documents if d.data.get("domain") in domains]
            lock = lock.only(domains) if lock is not None else None
        findings = find_breaking_changes(base_documents, documents, lock=lock)
        findings = apply_acceptances(
            findings, read_accepted(accepted_path), accepted_path.as_posix()
        )
    except SchemaErrors as error:
        output_format = getattr(arguments, "format", "text")
        if output_format in ("json", "github"):
            from aggregen.generator.outcome import Outcome

            stdout.write(Outcome("breaking", errors=error.errors).render(output_format))
        return _errors(error, stderr)
    except AgainstError as error:
        stderr.write(f"aggregen breaking: error: {error}\n")
        return 2
    stdout.write(render(findings, getattr(arguments, "format", "text"), against=base.label))
    return exit_code(findings)


def run_docs(
    arguments: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`aggregen docs [SCHEMAS] [--out DIR] [--lock FILE] [--check]`."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    schemas = _schemas(arguments)
    out = Path(getattr(arguments, "out", None) or read_defaults().docs or DEFAULT_DOCS_DIR)
    try:
        documents = load_and_validate(schemas)
        lock = read_lock(_lock_path(arguments, schemas))
    except SchemaErrors as error:
        return _errors(error, stderr)
    if getattr(arguments, "check", False):
        stale = check_docs(documents, out, lock)
        for path in stale:
            stdout.write(f"stale: {path.as_posix()}\n")
        if stale:
            stdout.write("the schema docs are out of date; run: aggregen docs\n")
            return 1
        stdout.write(f"aggregen: {out.as_posix()} is up to date\n")
        return 0
    written = write_docs(documents, out, lock)
    stdout.write(f"aggregen: {len(written)} page(s) written in {out.as_posix()}\n")
    return 0


def load_and_validate(paths: Sequence[str | Path]) -> list[SchemaDocument]:
    """`validate.load_and_validate`, imported when a review command first needs it."""
    from aggregen.generator.validate import load_and_validate as load

    return load(paths)
