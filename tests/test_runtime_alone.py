"""The runtime alone: what `import aggregen.runtime` loads, and the extras it names.

Each check runs in a fresh interpreter, with the optional dependencies hidden
(`sys.modules[name] = None` makes importing them fail as if not installed).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NOT_AT_IMPORT = (
    "aggregen.generator",
    "aggregen.review",
    "aggregen.runtime.consumer",
    "aggregen.runtime.consumer_async",
    "aggregen.runtime.memory",
    "aggregen.runtime.projection",
    "aggregen.runtime.projection_async",
    "aggregen.runtime.projection_postgres_async",
    "aggregen.runtime.retry",
    "aggregen.runtime.validation",
    "bisect",
    "black",
    "hashlib",
    "jinja2",
    "jsonschema",
    "logging",
    "nats",
    "psycopg",
    "psycopg_pool",
    "random",
    "signal",
    "sqlite3",
    "threading",
    "yaml",
)
"""Loaded on first use, not by `import aggregen.runtime` (benchmarks/suite_import.py)."""


def run_python(code: str, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    prologue = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in hide)
    return subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_importing_the_runtime_loads_no_generator_no_driver_and_no_logging() -> None:
    done = run_python(
        """
        import json
        import aggregen.runtime
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    packages = tuple(f"{name}." for name in NOT_AT_IMPORT)
    assert {name for name in loaded if name in NOT_AT_IMPORT or name.startswith(packages)} == set()


def test_importing_a_generated_package_loads_no_read_side() -> None:
    done = run_python(
        """
        import json
        sys.path.insert(0, "generated")
        import identity
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    read_side = {"consumer", "memory", "position_store", "projection"}
    assert {f"aggregen.runtime.{name}" for name in read_side} & loaded == set()
    assert {"hashlib", "logging", "signal", "threading"} & loaded == set()


def test_the_runtime_runs_an_aggregate_without_psycopg_or_the_generator() -> None:
    hidden = ("psycopg", "psycopg_pool", "yaml", "jinja2", "jsonschema", "black")
    done = run_python(
        """
        sys.path.insert(0, "generated")
        from aggregen.runtime import AsyncConsumer, AsyncProjector, Consumer, connect
        from identity import User, UserRepository

        users = UserRepository(connect("memory://"))
        user = User.register(email="ann@example.org", first_name="Ann")
        users.add(user)
        print(users.get(user.id).first_name, Consumer.__name__)
        """,
        hide=hidden,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Ann", "Consumer"]


def test_messagedb_without_psycopg_names_the_extra_to_install() -> None:
    for code in (
        "from aggregen.runtime import MessageDBEventStore",
        "import aggregen.runtime; aggregen.runtime.connect('postgresql://u:secret@h/db')",
        "from aggregen.runtime import PostgresProjectionTarget",
        "from aggregen.runtime import AsyncPostgresProjectionTarget",
    ):
        done = run_python(code, hide=("psycopg", "psycopg_pool"))
        assert done.returncode == 1, code
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("ModuleNotFoundError: "), done.stderr
        assert "needs psycopg, which is not installed: pip install 'aggregen[messagedb]'" in last
        assert "secret" not in done.stderr


def test_the_command_without_the_generator_names_the_extra_to_install() -> None:
    done = run_python(
        "from aggregen.cli import main; sys.exit(main(['validate']))",
        hide=("yaml", "jinja2"),
    )
    assert done.returncode == 1
    assert done.stderr == (
        "aggregen: the aggregen command needs the generator's dependencies, and PyYAML, "
        "Jinja2 are not installed (the runtime alone does not bring them): "
        "pip install 'aggregen[generate]'\n"
    )
    assert "Traceback" not in done.stderr


def test_a_jetstream_store_without_nats_py_names_the_extra() -> None:
    done = run_python(
        """
        from aggregen.runtime import connect
        try:
            connect("nats://127.0.0.1:4222/events")
        except ModuleNotFoundError as error:
            print(error)
        """,
        hide=("nats",),
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'aggregen[jetstream]'" in done.stdout


def test_only_the_jetstream_modules_import_nats_py() -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "aggregen").rglob("*.py")
        if re.search(r"^\s*(?:import nats\b|from nats\b)", path.read_text(), re.MULTILINE)
    }
    assert "aggregen/runtime/jetstream.py" in importers
    assert all(path.startswith("aggregen/runtime/jetstream") for path in importers), importers
