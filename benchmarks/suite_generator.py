"""The generator: `aggregen generate` on N aggregates, and datamodel-code-generator.

Runs in the project's virtual environment and times whole commands (interpreter
start included, as a build pipeline sees them): aggregen's cold run into an empty
directory, its rerun with nothing changed, and whether its output is black-stable;
then datamodel-code-generator (from the peers' environment, path in the config)
on an equivalent JSON Schema with as many model classes (an aggregate and its
events are each one model).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import Result, emit, log, parse_args

ROOT = Path(__file__).resolve().parent.parent

# field name -> (aggregen type, JSON Schema)
FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "name": ("String", {"type": "string", "maxLength": 100}),
    "count": ("Integer", {"type": "integer"}),
    "amount": ("Decimal", {"type": "number"}),
    "active": ("Boolean", {"type": "boolean"}),
    "started_on": ("Date", {"type": "string", "format": "date"}),
}
CHANGES = ["name", "count", "amount", "active"]


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def aggregen_yaml(domain: str, count: int) -> str:
    """One domain of `count` aggregates, each 5 fields, 5 events and 5 commands."""
    lines = ["format: 1", f"domain: {domain}", "aggregates:"]
    for i in range(count):
        name = f"Thing{i}"
        lines += [f"  {name}:", "    fields:"]
        lines += [f"      {field}: {kind}" for field, (kind, _) in FIELDS.items()]
        lines += ["    events:", f"      {name}Created:", "        fields:"]
        lines += [f"          {field}: {kind}" for field, (kind, _) in FIELDS.items()]
        for field in CHANGES:
            lines += [
                f"      {name}{pascal(field)}Changed:",
                "        fields:",
                f"          {field}: {FIELDS[field][0]}",
            ]
        lines += [
            "    commands:",
            "      create:",
            f"        event: {name}Created",
            "        creates: true",
        ]
        for field in CHANGES:
            lines += [f"      change_{field}:", f"        event: {name}{pascal(field)}Changed"]
    return "\n".join(lines) + "\n"


def json_schema(count: int) -> dict[str, Any]:
    """The same models as JSON Schema definitions: per aggregate itself and its 5 events."""
    definitions: dict[str, Any] = {}
    for i in range(count):
        name = f"Thing{i}"
        every = {field: schema for field, (_, schema) in FIELDS.items()}
        definitions[name] = {"type": "object", "properties": every}
        definitions[f"{name}Created"] = {
            "type": "object",
            "properties": every,
            "required": list(every),
        }
        for field in CHANGES:
            definitions[f"{name}{pascal(field)}Changed"] = {
                "type": "object",
                "properties": {field: FIELDS[field][1]},
                "required": [field],
            }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Bench",
        "type": "object",
        "properties": {name: {"$ref": f"#/definitions/{name}"} for name in definitions},
        "definitions": definitions,
    }


def run_timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def bench_aggregen(n: int, work: Path, repeat: int) -> list[Result]:
    schemas = work / f"schemas{n}"
    schemas.mkdir()
    (schemas / f"bench{n}.yaml").write_text(aggregen_yaml(f"bench{n}", n))
    cold = Result(op=f"generate_cold_{n}", store="generator", kind="time")
    rerun = Result(op=f"generate_rerun_{n}", store="generator", kind="time")
    for attempt in range(repeat):
        out = work / f"out{n}_{attempt}"
        command = [sys.executable, "-m", "aggregen", "generate", str(schemas), "--out", str(out)]
        seconds, done = run_timed(command, ROOT)
        if done.returncode != 0:
            note = f"not available yet: `aggregen generate` exited {done.returncode}: "
            cold.note = rerun.note = note + first_line(done.stderr or done.stdout)
            return [cold, rerun]
        cold.samples.append(seconds)
        seconds, done = run_timed(command, ROOT)
        if done.returncode != 0:
            rerun.note = f"rerun exited {done.returncode}: {first_line(done.stderr)}"
        else:
            rerun.samples.append(seconds)
    black = shutil.which("black", path=str(Path(sys.executable).parent))
    if black:
        checked = subprocess.run(
            [black, "--check", "--quiet", str(work / f"out{n}_0")], check=False
        )
        cold.note = "black-stable" if checked.returncode == 0 else "NOT black-stable"
    return [cold, rerun]


def bench_datamodel(n: int, work: Path, executable: str, repeat: int) -> Result:
    schema = work / f"schema{n}.json"
    schema.write_text(json.dumps(json_schema(n)))
    result = Result(op=f"generate_cold_{n}", store="generator", kind="time")
    for attempt in range(repeat):
        out = work / f"dmcg{n}_{attempt}.py"
        command = [
            executable,
            "--input", str(schema),
            "--input-file-type", "jsonschema",
            "--output-model-type", "dataclasses.dataclass",
            "--output", str(out),
        ]  # fmt: skip
        seconds, done = run_timed(command, work)
        if done.returncode != 0:
            result.note = f"datamodel-codegen failed: {first_line(done.stderr)}"
            return result
        result.samples.append(seconds)
    return result


def main() -> None:
    sizes, config = parse_args(__doc__ or "")
    counts: list[int] = config.get("counts", [10, 100, 1000])
    datamodel: str | None = config.get("datamodel_codegen")
    if datamodel:
        datamodel = str(Path(datamodel).resolve())
    suite = config.get("suite", "aggregen")
    results: list[Result] = []
    versions: dict[str, str] = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="aggregen-bench-") as tmp:
        work = Path(tmp)
        for n in counts:
            repeat = 1 if n >= 1000 else sizes.repeat
            if suite == "datamodel-code-generator":
                assert datamodel is not None, "config needs datamodel_codegen"
                log(f"datamodel-code-generator: {n} aggregates")
                results.append(bench_datamodel(n, work, datamodel, repeat))
            else:
                log(f"aggregen generate: {n} aggregates")
                results += bench_aggregen(n, work, repeat)
    if suite == "datamodel-code-generator" and datamodel:
        done = subprocess.run([datamodel, "--version"], capture_output=True, text=True, check=False)
        versions["datamodel-code-generator"] = done.stdout.strip()
    emit(suite, versions, results)


if __name__ == "__main__":
    main()
