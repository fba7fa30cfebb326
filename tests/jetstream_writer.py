"""A contended writer in a process of its own, for the JetStream leader-loss tests.

    python -m tests.jetstream_writer URI CATEGORY ACCOUNTS STOP OUTPUT SEED

Until the file STOP exists, it appends units of work of two streams of CATEGORY
(picked among ACCOUNTS), each with the expected versions it last read, one message
per stream; on `ExpectedVersionError` it reads the versions again and retries. Each
acknowledged unit is a JSON line on OUTPUT (flushed): its message ids and streams,
and how long the append took. Any other error is a line with `"error"`. At the end
it prints how many of its store's requests a leader election cut short.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
import uuid

from aggregen.runtime import ExpectedVersionError, NewMessage, StreamWrite, connect


class CutShort(logging.Handler):
    """Counts the retries of requests given up because the stream elected a leader."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "a new stream leader was elected" in record.getMessage():
            self.count += 1


def main() -> None:
    uri, category, accounts, stop, output, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    streams = [f"{category}-{n}" for n in range(int(accounts))]
    cut_short = CutShort()
    logging.getLogger("aggregen.jetstream").addHandler(cut_short)
    store = connect(uri)
    with open(output, "a", encoding="utf-8") as out:

        def record(line: dict[str, object]) -> None:
            out.write(json.dumps(line) + "\n")
            out.flush()

        print("ready", flush=True)
        while not os.path.exists(stop):
            pair = rng.sample(streams, 2)
            unit = str(uuid.uuid4())
            ids = [str(uuid.uuid4()) for _ in pair]
            try:
                started = time.monotonic()
                while True:
                    versions = [store.stream_version(name) for name in pair]
                    writes = [
                        StreamWrite(
                            name,
                            version,
                            [NewMessage(message_id, "Moved", {"unit": unit}, None)],
                        )
                        for name, version, message_id in zip(pair, versions, ids, strict=True)
                    ]
                    try:
                        store.append(writes)
                    except ExpectedVersionError:
                        continue
                    break
                record({"ids": ids, "streams": pair, "seconds": time.monotonic() - started})
            except Exception as error:  # the test fails on any such line
                record({"error": f"{type(error).__name__}: {error}", "ids": ids})
    store.close()
    print(f"cut short {cut_short.count}", flush=True)


if __name__ == "__main__":
    main()
