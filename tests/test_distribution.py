"""Generated domains as a distribution, installed next to the runtime alone.

aggregen's own wheel and a domain's wheel (`[tool.aggregen.distribution]`, built by
`python -m build`) go into a clean virtual environment: first with the runtime alone
(aggregen and orjson: an app runs in memory, and MessageDB names the extra it needs),
then with `aggregen[messagedb]`, where the app stores and reads events on MessageDB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
from pathlib import Path

import pytest

from aggregen import __version__
from aggregen.generator.cli import main
from aggregen.generator.distribution import runtime_requirement

ROOT = Path(__file__).resolve().parent.parent

SCHEMA = """\
domain: shipping
aggregates:
  Parcel:
    fields:
      label: {type: String, required: true, max_length: 40}
    events:
      Sent:
        fields:
          label: {type: String, required: true, max_length: 40}
    commands:
      send: {event: Sent, creates: true}
"""

PYPROJECT = """\
[tool.aggregen]
schemas = ["schemas"]
out = "dist-src"

[tool.aggregen.distribution]
name = "acme-shipping"
version = "2.3.0"
description = "The shipping domain of ACME"
"""


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def copy_of_the_distribution(directory: Path) -> Path:
    """What aggregen's wheel is built from, copied: builds then never touch the repository."""
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, directory / name)
    shutil.copytree(
        ROOT / "aggregen", directory / "aggregen", ignore=shutil.ignore_patterns("__pycache__")
    )
    return directory


@pytest.fixture
def domain_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "domain"
    (project / "schemas").mkdir(parents=True)
    (project / "schemas" / "shipping.yaml").write_text(SCHEMA, encoding="utf-8")
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    monkeypatch.chdir(project)
    return project


def test_generate_writes_the_distributions_pyproject_and_check_covers_it(
    domain_project: Path,
) -> None:
    assert main(["-q", "generate"]) == 0
    written = domain_project / "dist-src" / "pyproject.toml"
    data = tomllib.loads(written.read_text(encoding="utf-8"))
    assert data["project"]["name"] == "acme-shipping"
    assert data["project"]["version"] == "2.3.0"
    assert data["project"]["dependencies"] == [runtime_requirement()]
    assert runtime_requirement("0.1.0") == "aggregen>=0.1.0,<0.2"
    assert runtime_requirement("1.4.2") == "aggregen>=1.4.2,<2"
    assert main(["-q", "check"]) == 0
    # A new version in the settings makes the generated file stale, then fresh again.
    pyproject = domain_project / "pyproject.toml"
    pyproject.write_text(PYPROJECT.replace("2.3.0", "2.4.0"), encoding="utf-8")
    assert main(["-q", "check"]) == 1
    assert main(["-q", "generate"]) == 0
    assert 'version = "2.4.0"' in written.read_text(encoding="utf-8")
    assert main(["-q", "check"]) == 0


def test_broken_distribution_settings_are_a_usage_error(
    domain_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (domain_project / "pyproject.toml").write_text(
        PYPROJECT.replace('"2.3.0"', '"two"'), encoding="utf-8"
    )
    assert main(["generate"]) == 2
    assert "version 'two' is not a version like 1.0.0" in capsys.readouterr().err


@pytest.mark.messagedb
def test_the_domain_wheel_runs_on_messagedb_with_the_runtime_alone(
    domain_project: Path, tmp_path: Path, messagedb_uri: str
) -> None:
    assert main(["-q", "generate"]) == 0
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels)]
    run(*build, str(copy_of_the_distribution(tmp_path / "aggregen")), cwd=tmp_path)
    run(*build, str(domain_project / "dist-src"), cwd=tmp_path)
    [runtime_wheel] = wheels.glob("aggregen-*.whl")
    [domain_wheel] = wheels.glob("acme_shipping-*.whl")

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # First the runtime alone: aggregen and orjson, nothing else.
    run(*pip, str(runtime_wheel), str(domain_wheel), cwd=tmp_path)
    installed = run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path).lower()
    names = {line.split("==")[0] for line in installed.split()} - {"pip", "setuptools"}
    assert names == {"aggregen", "acme-shipping", "orjson"}
    assert f"aggregen=={__version__}" in installed
    assert "acme-shipping==2.3.0" in installed

    app = textwrap.dedent(
        """
        import sys
        from aggregen.runtime import connect
        from shipping import Parcel, ParcelRepository

        store = connect()
        parcels = ParcelRepository(store)
        parcel = Parcel.send(label="to Ann")
        parcels.add(parcel)
        print(type(store).__name__, parcels.get(parcel.id).label, "yaml" in sys.modules)
        """
    )
    memory = {"PATH": os.environ["PATH"], "AGGREGEN_EVENT_STORE": "memory://"}
    output = run(python, "-c", app, cwd=tmp_path, env=memory)
    assert output.split() == ["InMemoryEventStore", "to", "Ann", "False"]
    env = {"PATH": os.environ["PATH"], "AGGREGEN_EVENT_STORE": messagedb_uri}
    without_psycopg = subprocess.run(
        [python, "-c", app], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert without_psycopg.returncode == 1
    assert "needs psycopg, which is not installed: pip install 'aggregen[messagedb]'" in (
        without_psycopg.stderr
    )

    # Then the MessageDB extra: the app runs on MessageDB.
    run(*pip, f"{runtime_wheel}[messagedb]", cwd=tmp_path)
    installed = run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path).lower()
    for generator_dependency in ("pyyaml", "jinja2", "jsonschema", "black"):
        assert f"{generator_dependency}==" not in installed
    output = run(python, "-c", app, cwd=tmp_path, env=env)
    assert output.split() == ["MessageDBEventStore", "to", "Ann", "False"]
    command = subprocess.run(
        [str(environment / "bin" / "aggregen"), "validate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert command.returncode == 1
    assert command.stderr.endswith("pip install 'aggregen[generate]'\n")
