"""The read-side example app runs on real MessageDB, with its read model in PostgreSQL.

It gets a MessageDB database of its own (installed by scripts/messagedb-setup.sh), so
that its consumers read only the example's streams.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.projection_support import app_database_uri

pytestmark = pytest.mark.messagedb

EXAMPLE_DATABASE = "aggregen_example_read_side"


def test_the_read_side_example_runs_on_messagedb_and_postgresql(messagedb_uri: str) -> None:
    setup = subprocess.run(
        ["bash", str(ROOT / "scripts" / "messagedb-setup.sh")],
        env={**os.environ, "MESSAGE_DB_NAME": EXAMPLE_DATABASE},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    store_uri = setup.stdout.strip().splitlines()[-1]
    environment = {
        **os.environ,
        "AGGREGEN_EVENT_STORE": store_uri,
        "AGGREGEN_APP_DATABASE": app_database_uri(messagedb_uri),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "read_side_app.py")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "reaction: 4 user events handled"
    assert lines[1] == "reaction again: 0 new (its position is stored)"
    assert lines[2] == "projection: 4 user events applied exactly once"
    assert re.fullmatch(
        r"users_by_email for \w{8}…: \[\('grace@example\.org', 'Grace H\.'\)\]", lines[3]
    )
    assert re.fullmatch(
        r"customer \d+ \(Ada\) was caused by user-[0-9a-f-]+ position 0, "
        r"correlation signup-batch-7",
        lines[4],
    )
