"""A projector in a process of its own, for the SIGKILL test of exactly-once projections.

    python -m tests.projection_process STORE_URI APP_URI CATEGORY SUFFIX [--pause SECONDS]

Projects CATEGORY with `Tally(SUFFIX)` into APP_URI until caught up, then exits. It
prints `ready` once its projector exists.
"""

from __future__ import annotations

import argparse
import time

from aggregen.runtime import PostgresProjectionTarget, Projector, RecordedMessage, Session, connect
from tests.projection_support import Tally


class SlowTally(Tally):
    def __init__(self, suffix: str, pause: float) -> None:
        super().__init__(suffix)
        self.pause = pause

    def handle(self, message: RecordedMessage, session: Session) -> None:
        super().handle(message, session)
        time.sleep(self.pause)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("store_uri", "app_uri", "category", "suffix"):
        parser.add_argument(name)
    parser.add_argument("--pause", type=float, default=0.0)
    options = parser.parse_args()
    store = connect(options.store_uri, max_size=1)
    target = PostgresProjectionTarget(options.app_uri)
    tally = SlowTally(options.suffix, options.pause)
    projector = Projector(
        store, options.category, tally, target, name=f"tally-{options.suffix}", batch_size=25
    )
    print("ready", flush=True)
    projector.catch_up()
    target.close()
    store.close()


if __name__ == "__main__":
    main()
