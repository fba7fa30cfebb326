"""MessageDB databases of a test's own on the shared server, copied from an empty template.

For tests that read whole categories or list them: in the shared database other
tests' streams would be seen too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg

from tests.conftest import ROOT


def ready_template(messagedb_uri: str, template: str) -> str:
    """Make `template` an empty MessageDB (if it is not); the URI of the `postgres` database."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "messagedb-setup.sh")],
        env={**os.environ, "MESSAGE_DB_NAME": template},
        capture_output=True,
        timeout=300,
        check=True,
    )
    return urlsplit(messagedb_uri)._replace(path="/postgres").geturl()


@contextlib.contextmanager
def own_database(admin_uri: str, template: str, prefix: str) -> Iterator[str]:
    """The URI of a new copy of `template` named `{prefix}_{random}`, dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_uri, autocommit=True) as admin:
        for attempt in range(20):  # another test process may be copying the template
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.1)
        try:
            yield urlsplit(admin_uri)._replace(path=f"/{name}").geturl()
        finally:
            with contextlib.suppress(psycopg.Error):
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
