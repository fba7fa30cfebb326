"""The sdist: the package and its data, README, LICENSE; no partial test suite."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdist_holds_the_package_and_no_tests(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [sdist] = tmp_path.glob("aggregen-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in (
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "aggregen/py.typed",
        "aggregen/schema.json",
        "aggregen/runtime/support.py",
        "aggregen/templates/package_init.py.jinja2",
    ):
        assert wanted in names, wanted
    assert not {
        name
        for name in names
        if name.startswith(("tests/", "benchmarks/", "generated/", "examples/"))
    }
