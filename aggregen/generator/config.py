"""Command-line defaults from `[tool.aggregen]` in the nearest pyproject.toml.

```toml
[tool.aggregen]
schemas = ["schemas"]   # files or directories, relative to pyproject.toml
out = "generated"
docs = "docs/domains"   # optional: where `aggregen docs` writes; `check` then covers it

[tool.aggregen.distribution]   # optional: also write out/pyproject.toml (distribution.py)
name = "acme-domains"
version = "1.0.0"
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregen.runtime.errors import ConfigurationError

from .distribution import Distribution

__all__ = ["DEFAULT_SCHEMAS", "Defaults", "find_pyproject", "read_defaults", "schema_paths"]

DEFAULT_SCHEMAS = "schemas"
"""Where every command looks for schemas when none are named or configured."""


@dataclass(frozen=True)
class Defaults:
    """Default schema paths, output and docs directories; None where the table sets none."""

    schemas: tuple[Path, ...] | None = None
    out: Path | None = None
    source: Path | None = None
    docs: Path | None = None
    distribution: Distribution | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml in `start` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _relative(base: Path, value: str) -> Path:
    path = Path(value)
    if path.is_absolute():
        return path
    try:
        return (base / path).relative_to(Path.cwd())
    except ValueError:
        return base / path


def read_defaults(start: Path | None = None) -> Defaults:
    """The `[tool.aggregen]` defaults; raises `ConfigurationError` for a broken table."""
    pyproject = find_pyproject((start or Path.cwd()).absolute())
    if pyproject is None:
        return Defaults()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read {pyproject}: {error}") from error
    table = data.get("tool", {}).get("aggregen")
    if table is None:
        return Defaults(source=pyproject)
    if not isinstance(table, dict):
        raise ConfigurationError(f"{pyproject}: [tool.aggregen] must be a table")
    unknown = sorted(set(table) - {"schemas", "out", "docs", "distribution"})
    if unknown:
        raise ConfigurationError(
            f"{pyproject}: [tool.aggregen] has unknown key {unknown[0]!r} "
            "(known: schemas, out, docs, distribution)"
        )
    base = pyproject.parent
    schemas = table.get("schemas")
    out = table.get("out")
    if schemas is not None and (
        not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas)
    ):
        raise ConfigurationError(f"{pyproject}: tool.aggregen.schemas must be a list of paths")
    if out is not None and not isinstance(out, str):
        raise ConfigurationError(f"{pyproject}: tool.aggregen.out must be a path")
    docs = table.get("docs")
    if docs is not None and not isinstance(docs, str):
        raise ConfigurationError(f"{pyproject}: tool.aggregen.docs must be a path")
    return Defaults(
        schemas=None if schemas is None else tuple(_relative(base, s) for s in schemas),
        out=None if out is None else _relative(base, out),
        source=pyproject,
        docs=None if docs is None else _relative(base, docs),
        distribution=_distribution(pyproject, table.get("distribution")),
    )


def _distribution(pyproject: Path, table: object) -> Distribution | None:
    """`[tool.aggregen.distribution]`; raises `ConfigurationError` when it is broken."""
    if table is None:
        return None
    where = f"{pyproject}: [tool.aggregen.distribution]"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table")
    unknown = sorted(set(table) - {"name", "version", "description"})
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown key {unknown[0]!r} (known: name, version, description)"
        )
    values = {key: table.get(key) for key in ("name", "version", "description")}
    for key in ("name", "version"):
        if not isinstance(values[key], str):
            raise ConfigurationError(f'{where} needs {key} = "..." (a string)')
    if values["description"] is not None and not isinstance(values["description"], str):
        raise ConfigurationError(f"{where}: description must be a string")
    distribution = Distribution(
        name=str(values["name"]),
        version=str(values["version"]),
        description=str(values["description"] or ""),
    )
    problems = distribution.problems()
    if problems:
        raise ConfigurationError(f"{where}: {'; '.join(problems)}")
    return distribution


def schema_paths(given: Sequence[str], defaults: Defaults) -> list[str]:
    """The schemas a command works on; the same rule for every command.

    `given` when not empty; else `tool.aggregen.schemas`; else `./schemas` when that
    directory exists. Raises `ConfigurationError` (a usage error) when none applies.
    """
    if given:
        return list(given)
    if defaults.schemas:
        return [str(path) for path in defaults.schemas]
    if Path(DEFAULT_SCHEMAS).is_dir():
        return [DEFAULT_SCHEMAS]
    raise ConfigurationError(
        "no schemas: name them (SCHEMAS), set tool.aggregen.schemas in pyproject.toml, "
        f"or put them in ./{DEFAULT_SCHEMAS}/"
    )
