"""Message ids: random version 4 UUID strings, unique across threads and forked processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from aggregen.runtime.message import check_message_id, uuid4_string


def test_ids_are_canonical_random_uuids() -> None:
    ids = [uuid4_string() for _ in range(1000)]  # several draws of ids made ahead
    assert len(set(ids)) == len(ids)
    for message_id in ids:
        parsed = uuid.UUID(message_id)
        assert str(parsed) == message_id
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert check_message_id(message_id) == message_id


def test_threads_never_get_the_same_id() -> None:
    taken: list[list[str]] = [[] for _ in range(8)]

    def take(into: list[str]) -> None:
        for _ in range(2000):
            into.append(uuid4_string())

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [message_id for into in taken for message_id in into]
    assert len(set(every)) == len(every) == 16000


_FORK_SCRIPT = """
import os, sys
from aggregen.runtime.message import uuid4_string
uuid4_string()  # the parent now holds ids drawn ahead
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_end, " ".join(uuid4_string() for _ in range(5)).encode())
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
with os.fdopen(read_end) as pipe:
    child = set(pipe.read().split())
parent = {uuid4_string() for _ in range(200)}
print(len(child), len(child & parent))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_does_not_reuse_the_ids_its_parent_drew_ahead() -> None:
    # In a fresh interpreter: forking this multi-threaded test process is unsafe.
    done = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["5", "0"]
