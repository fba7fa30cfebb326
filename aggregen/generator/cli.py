"""The `aggregen` command line: generate, check, validate, schema; lock, breaking, docs.

Exit status: 0 success; 1 invalid schemas, a locked event version missing or
changed in place, stale output or docs, a hand-written upcaster still to write, a
breaking change, or another failure (one message, never a traceback); 2 wrong usage
or a broken `[tool.aggregen]` table (or, for `breaking`, a base that cannot be read).
Schema paths (for every command: tool.aggregen.schemas, else ./schemas), the output
directory and the docs directory default to `[tool.aggregen]` in the nearest
pyproject.toml. `-q` prints nothing when the command succeeds; `--format json` or
`github` on validate, check and breaking prints for machines (docs/ci.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from aggregen import __version__
from aggregen.review.acceptance import ACCEPTED_FILE_NAME
from aggregen.review.cli import SCHEMAS_HELP, add_review_commands
from aggregen.review.finding import Finding
from aggregen.review.history import history_findings
from aggregen.review.lock import default_lock_path, read_lock
from aggregen.review.report import render
from aggregen.runtime.errors import AggregenError, ConfigurationError

from . import pipeline
from .config import Defaults, read_defaults, schema_paths
from .distribution import distribution_files
from .docs import check_docs
from .errors import SchemaErrors
from .leftovers import Leftover
from .outcome import OUTPUT_FORMATS, Outcome, PathProblem
from .write import CheckReport

__all__ = ["main"]

DEBUG_VARIABLE = "AGGREGEN_DEBUG"


class _UsageError(Exception):
    """Wrong usage: reported with the usage line, exit status 2."""


def _quiet_option(top: bool) -> argparse.ArgumentParser:
    """`-q`, taken before the command and after it (then it must not reset the first)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print nothing when the command succeeds (problems are still printed; "
        "output in another format than text is never dropped)",
    )
    return parent


def _format_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="text",
        help="output format: text, json (versioned, docs/ci.md) or github (annotations)",
    )


def _add_completion(parser: argparse.ArgumentParser) -> None:
    """`--print-completion bash|zsh|tcsh`, by shtab (skipped when shtab is missing)."""
    try:
        import shtab
    except ImportError:
        return
    shtab.add_argument_to(parser, ["--print-completion"], help="print a shell completion script")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregen",
        description="Generate typed Python event-sourced aggregates from YAML schemas.",
        epilog="Defaults for SCHEMAS and --out come from [tool.aggregen] in pyproject.toml.",
        parents=[_quiet_option(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"aggregen {__version__}")
    _add_completion(parser)
    quiet = [_quiet_option(top=False)]
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    schemas_help = SCHEMAS_HELP
    for name, summary in (
        ("generate", "write the generated packages"),
        (
            "check",
            "exit 1 when the output (or the docs, with tool.aggregen.docs) is not exactly "
            "what generate (or docs) would write, a locked event version is missing or "
            "changed, its stored events would no longer read (the STORAGE rules against "
            "the lock file), or a hand-written upcaster is still to be written",
        ),
    ):
        command = commands.add_parser(name, help=summary, description=summary, parents=quiet)
        command.add_argument("schemas", nargs="*", metavar="SCHEMAS", help=schemas_help)
        command.add_argument(
            "--out", metavar="DIR", help="output directory (default: tool.aggregen.out)"
        )
        if name == "check":
            _format_option(command)
    command = commands.add_parser(
        "validate",
        help="check schemas, listing every error",
        description="check schemas",
        parents=quiet,
    )
    command.add_argument("schemas", nargs="*", metavar="SCHEMAS", help=schemas_help)
    _format_option(command)
    commands.add_parser(
        "schema",
        help="print the JSON Schema of the schema format",
        description="print it",
        parents=quiet,
    )
    add_project_commands(commands, quiet)
    add_review_commands(commands, quiet)
    # Listed for `--help` only: aggregen.cli runs `copy` (the runtime's) before this parser.
    commands.add_parser(
        "copy", help="copy streams from one event store to another (aggregen copy --help)"
    )
    return parser


def add_project_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add `init` to `commands`."""
    command = commands.add_parser(
        "init",
        help="start a project that uses aggregen (never overwrites a file)",
        description="Write pyproject.toml with [tool.aggregen], an example schema, app.py, "
        ".pre-commit-config.yaml and a GitHub workflow into DIRECTORY, then generate the "
        "package into DIRECTORY/src. Files that exist are kept as they are.",
        parents=list(parents),
    )
    command.add_argument(
        "directory", nargs="?", default=".", metavar="DIRECTORY", help="default: ."
    )
    command.add_argument(
        "--domain", default="tasks", help="name of the example domain (default: tasks)"
    )
    command.set_defaults(handler=_run_init)


def _run_init(arguments: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from .init import SOURCE_DIR, init_project

    directory = Path(arguments.directory)
    report = init_project(directory, arguments.domain)
    for path in report.created:
        stdout.write(f"created {(directory / path).as_posix()}\n")
    for path in report.kept:
        stdout.write(f"kept {(directory / path).as_posix()} (exists; not overwritten)\n")
    defaults = read_defaults(directory)
    if defaults.source is None or defaults.schemas is None or defaults.out is None:
        stderr.write(
            f"aggregen init: {(directory / 'pyproject.toml').as_posix()} has no "
            f"[tool.aggregen] table with schemas and out; add:\n\n[tool.aggregen]\n"
            f'schemas = ["schemas"]\nout = "{SOURCE_DIR}"\n\nthen run: aggregen generate\n'
        )
        return 1
    root = defaults.source.parent
    generated = pipeline.generate(defaults.schemas, defaults.out, root)
    stdout.write(
        f"aggregen: {len(generated.written)} file(s) generated in {defaults.out.as_posix()}\n"
        f"next: edit schemas/{arguments.domain}.yaml, run `aggregen generate`, then "
        f"`PYTHONPATH={SOURCE_DIR} python app.py`\n"
    )
    return 0


def _schemas(given: Sequence[str], defaults: Defaults) -> list[str]:
    return schema_paths(given, defaults)


def _out(given: str | None, defaults: Defaults) -> str:
    if given is not None:
        return given
    if defaults.out is not None:
        return str(defaults.out)
    raise _UsageError("name the output directory with --out, or set tool.aggregen.out")


def _fix_command(arguments: argparse.Namespace) -> str:
    words = ["aggregen", "generate", *arguments.schemas]
    if arguments.out is not None:
        words += ["--out", arguments.out]
    return shlex.join(words)


def _report_check(
    report: CheckReport, arguments: argparse.Namespace, out: str, outcome: Outcome
) -> None:
    """Add what `report` found to `outcome` (its text, and each problem as data)."""
    lines = [f"{problem}\n" for problem in report.unwritten]
    outcome.to_do = report.unwritten
    if report.fresh:
        lines.append("a hand-written upcaster is still to be written (see above)\n")
        outcome.text += "".join(lines)
        return
    lines.append(report.diff)
    for label, names in (
        ("stale (older than its schema)", report.stale),
        ("missing", report.missing),
        ("orphaned (no longer generated)", report.orphaned),
        ("hand-edited (generated files must not be edited)", report.hand_edited),
        ("not written by aggregen", report.foreign),
    ):
        for name in names:
            lines.append(f"{label}: {name}\n")
            outcome.files.append(PathProblem(Path(out, name).as_posix(), label))
    if report.manifest_stale:
        lines.append("stale: the manifest .aggregen-manifest.json\n")
        outcome.files.append(PathProblem(Path(out, ".aggregen-manifest.json").as_posix(), "stale"))
    outcome.fix = _fix_command(arguments)
    lines.append(f"the generated code is out of date; to fix it run: {outcome.fix}\n")
    outcome.text += "".join(lines)


def _warnings(out: str, leftovers: Sequence[Leftover]) -> list[PathProblem]:
    """One warning per hand-written module left behind (`leftovers`)."""
    return [PathProblem(Path(out, left.name).as_posix(), left.warning(out)) for left in leftovers]


def _review(
    schemas: Sequence[str], defaults: Defaults, partial: bool
) -> tuple[list[Path], list[Finding]]:
    """What `check` adds to the output check: stale docs pages and stranded history.

    The pages `aggregen docs` would change, when `tool.aggregen.docs` is set; the
    STORAGE findings against the lock file (if there is one) that are not accepted;
    with `partial`, for the domains of `schemas` alone.
    """
    lock = read_lock(default_lock_path(schemas))
    if defaults.docs is None and lock is None:
        return [], []
    from .validate import load_and_validate

    documents = load_and_validate(schemas)
    if lock is not None and partial:
        lock = lock.only({str(document.data.get("domain")) for document in documents})
    stale = [] if defaults.docs is None else check_docs(documents, defaults.docs, lock)
    findings = [finding for finding in history_findings(documents, lock) if finding.blocking]
    return stale, findings


def _run(arguments: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    handler = getattr(arguments, "handler", None)
    if handler is not None:
        status: int = handler(arguments, stdout, stderr)
        return status
    if arguments.command == "schema":
        from .validate import json_schema

        stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
        return 0
    defaults = read_defaults()
    schemas = _schemas(arguments.schemas, defaults)
    root = defaults.source.parent if defaults.source is not None else None
    if arguments.command == "validate":
        domains = pipeline.models(schemas, root)
        outcome = Outcome("validate", text=f"{len(domains)} schema file(s) valid\n")
        stdout.write(outcome.render(arguments.format))
        return 0
    out = _out(arguments.out, defaults)
    partial = defaults.schemas is not None and pipeline.is_partial(
        arguments.schemas, defaults.schemas
    )
    scope = " (the domains of the schemas named; the others left as they are)" if partial else ""
    extra = distribution_files(defaults.distribution) if defaults.distribution else []
    if arguments.command == "generate":
        report = pipeline.generate(schemas, out, root, partial=partial, extra=extra)
        warnings = _warnings(out, report.leftovers)
        if report.skipped:
            stdout.write(
                f"aggregen: nothing changed: the schemas, the lock file and the generator "
                f"match the manifest and all {len(report.unchanged)} generated files in "
                f"{out} are intact; nothing written\n"
            )
            stdout.writelines(f"warning: {warning.problem}\n" for warning in warnings)
            return 0
        stdout.write(
            f"aggregen: {len(report.written)} written, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.scaffolds_created)} hand-written "
            f"module(s) created in {out}{scope}\n"
        )
        for name in report.scaffolds_created:
            stdout.write(f"created {Path(out, name).as_posix()}: yours to edit\n")
        for problem in report.unwritten:
            stdout.write(f"to do: {problem}\n")
        stdout.writelines(f"warning: {warning.problem}\n" for warning in warnings)
        return 0
    check = pipeline.check(schemas, out, root, partial=partial, extra=extra)
    stale_docs, stranded = _review(schemas, defaults, partial)
    outcome = Outcome("check")
    outcome.warnings = _warnings(out, check.leftovers)
    outcome.text = "".join(f"warning: {warning.problem}\n" for warning in outcome.warnings)
    if check.ok and not stale_docs and not stranded:
        if defaults.docs is None:
            outcome.text += f"aggregen: {out} is up to date{scope}\n"
        else:
            outcome.text += (
                f"aggregen: {out} and {defaults.docs.as_posix()} are up to date{scope}\n"
            )
        stdout.write(outcome.render(arguments.format))
        return 0
    if not check.ok:
        _report_check(check, arguments, out, outcome)
    for page in stale_docs:
        outcome.text += f"stale: {page.as_posix()}\n"
        outcome.docs.append(PathProblem(page.as_posix(), "stale"))
    if stale_docs:
        outcome.text += "the schema docs are out of date; to fix them run: aggregen docs\n"
    if stranded:
        outcome.findings = stranded
        outcome.text += render(stranded, "text", against="the lock file")
        outcome.text += (
            "stored events of a locked version would no longer read as they were written; "
            "fix the schema (see the findings and docs/schema-evolution.md), or accept an "
            f"intended change in {ACCEPTED_FILE_NAME} next to the lock file\n"
        )
    stdout.write(outcome.render(arguments.format))
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`); return the exit status."""
    parser = _parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    # Quiet drops a successful command's text report; a failure prints it all, and
    # output for machines (`schema`, --format json, github, markdown) is never dropped.
    quiet = arguments.quiet and arguments.command != "schema"
    if not quiet or getattr(arguments, "format", "text") != "text":
        return _main(parser, arguments, sys.stdout, sys.stderr)
    stdout, stderr = io.StringIO(), io.StringIO()
    status = _main(parser, arguments, stdout, stderr)
    if status != 0:
        sys.stdout.write(stdout.getvalue())
        sys.stderr.write(stderr.getvalue())
    return status


def _main(
    parser: argparse.ArgumentParser, arguments: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> int:
    try:
        return _run(arguments, stdout, stderr)
    except _UsageError as error:
        parser.print_usage(stderr)
        stderr.write(f"aggregen {arguments.command}: error: {error}\n")
        return 2
    except SchemaErrors as error:
        output_format = getattr(arguments, "format", "text")
        if arguments.command in ("validate", "check") and output_format != "text":
            stdout.write(Outcome(arguments.command, errors=error.errors).render(output_format))
        for problem in error.errors:
            stderr.write(f"{problem}\n")
        # Only generate writes: the other commands have nothing to hold back.
        written = "; nothing written" if arguments.command == "generate" else ""
        stderr.write(f"aggregen: {len(error.errors)} error(s){written}\n")
        return 1
    except ConfigurationError as error:
        parser.print_usage(stderr)
        stderr.write(f"aggregen {arguments.command}: error: {error}\n")
        return 2
    except AggregenError as error:
        stderr.write(f"aggregen: error: {error}\n")
        return 1
    except OSError as error:
        stderr.write(f"aggregen: error: {error}\n")
        return 1
    except KeyboardInterrupt:
        stderr.write("aggregen: interrupted\n")
        return 130
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        stderr.write(
            f"aggregen: internal error ({type(error).__name__}: {error}); "
            f"set {DEBUG_VARIABLE}=1 for the traceback and please report it\n"
        )
        return 1
