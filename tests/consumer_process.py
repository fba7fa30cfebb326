"""A consumer in a process of its own, for the process tests of the read side.

    python -m tests.consumer_process URI CATEGORY NAME OUTPUT [--interval N]
        [--member M --size S] [--catch-up] [--pause SECONDS]

Each message handled appends `global_position stream_name position` to OUTPUT and
flushes, so a test sees what was handled even after a SIGKILL. It prints `ready` on
stdout once its consumer exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from aggregen.runtime import Consumer, ConsumerGroup, RecordedMessage, connect


class AppendToFile:
    def __init__(self, path: str, pause: float) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)
        self.pause = pause

    def handle(self, message: RecordedMessage) -> None:
        if self.pause:
            time.sleep(self.pause)
        self.file.write(f"{message.global_position} {message.stream_name} {message.position}\n")
        self.file.flush()
        os.fsync(self.file.fileno())


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("uri", "category", "name", "output"):
        parser.add_argument(name)
    parser.add_argument("--interval", type=int, default=100)
    parser.add_argument("--member", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--catch-up", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0)
    options = parser.parse_args()
    store = connect(options.uri, max_size=2)
    group = None if options.member is None else ConsumerGroup(options.member, options.size)
    consumer = Consumer(
        store,
        options.category,
        AppendToFile(options.output, options.pause),
        name=options.name,
        position_update_interval=options.interval,
        consumer_group=group,
        poll_interval=0.02,
    )
    print("ready", flush=True)
    if options.catch_up:
        consumer.catch_up()
    else:
        consumer.run()
    store.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
