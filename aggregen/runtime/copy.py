"""Copy an application's streams from one event store to another.

`copy_streams` writes every stream of the chosen categories to the target with its
message ids, types, data, metadata and stream positions, in the source's global
order, a batch of messages per commit. Each write carries the expected version the
stream has in the source, so the target's streams end identical to the source's, a
run that crashed can be run again (it continues where it stopped and stores nothing
twice), and a target stream that holds something else is refused by name.
`verify_streams` (`copy_verify`) compares the stores stream by stream.

Consumer positions (`{category}:position-{consumer}`) hold global positions of the
source, which mean nothing in the target: they are left out, or translated into the
target's global positions (`copy_positions`). Everything here uses the `EventStore`
protocol, plus `categories()` (`copy_categories.CategoryListing`) when no categories
are named. The command line is `python -m aggregen.runtime.copy`, also run as
`aggregen copy`: see `main`.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .category import category_of, check_batch_size
from .copy_categories import (
    POSITION_CHOICES,
    CategoryListing,
    Positions,
    choose_categories,
    in_global_order,
    list_categories,
)
from .copy_positions import position_translation
from .copy_verify import Difference, stream_difference, verify_streams
from .errors import (
    AggregenError,
    CopyError,
    DuplicateMessageError,
    EventStoreError,
    ExpectedVersionError,
)
from .message import NewMessage, RecordedMessage, StreamWrite
from .store import EventStore

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CategoryListing",
    "CopyError",
    "CopyReport",
    "Difference",
    "copy_streams",
    "list_categories",
    "main",
    "verify_streams",
]

DEFAULT_BATCH_SIZE = 500
"""Messages per commit: well below JetStream's 1,000 messages per atomic batch."""

Transform = Callable[[RecordedMessage], RecordedMessage]


@dataclass
class CopyReport:
    """What a copy did: `copied` messages written, `present` found in the target already.

    `translated` are the position categories copied with translated positions,
    `left_out` those not copied; `streams` counts the streams seen.
    """

    categories: list[str]
    translated: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    copied: int = 0
    present: int = 0
    streams: int = 0
    global_position: int = 0
    """The source's global position of the last message handled."""

    def summary(self) -> str:
        """One line saying what was copied and what was left out."""
        text = (
            f"copied {self.copied} messages ({self.present} already in the target) of "
            f"{self.streams} streams in {len(self.categories)} categories"
        )
        if self.translated:
            text += f"; consumer positions translated: {', '.join(self.translated)}"
        if self.left_out:
            text += (
                f"; left out consumer positions ({', '.join(self.left_out)}): they hold the "
                "source's global positions, so the target's consumers start from the beginning"
            )
        return text


def copy_streams(
    source: EventStore,
    target: EventStore,
    categories: Iterable[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    positions: Positions = "skip",
    progress: Callable[[CopyReport], None] | None = None,
) -> CopyReport:
    """Copy every stream of `categories` (None: all the source's) from `source` to `target`.

    Messages go in the source's global order, `batch_size` per `append` (one commit,
    several streams); `progress` is called after each. A stream the target holds
    already must hold a prefix of the source's stream: that prefix is skipped, so
    running the copy again after a crash continues where it stopped. Position
    categories are left out, or with `positions="translate"` copied after the rest
    with each position translated (`copy_positions`) when their category is copied.

    Raises `CopyError` naming the stream when the target's stream differs from the
    source's or changes during the copy, or when a message id is stored in the
    target under another stream; `ConfigurationError` when `categories` is None and
    the source cannot list its categories (see `list_categories`); `ValueError` for
    a batch size below 1 or an unknown `positions`; the stores' own errors.
    """
    check_batch_size(batch_size)
    selection = choose_categories(source, categories, positions)
    report = CopyReport(selection.categories, selection.translated, selection.left_out)
    copy = _Copy(source, target, batch_size, report, progress)
    copy.run(selection.categories, None)
    for category in selection.translated:
        copy.run([category], position_translation(source, target, category))
    return report


class _Copy:
    """One run of `copy_streams`: the target's stream versions known, the batch being made."""

    def __init__(
        self,
        source: EventStore,
        target: EventStore,
        batch_size: int,
        report: CopyReport,
        progress: Callable[[CopyReport], None] | None,
    ) -> None:
        self.source = source
        self.target = target
        self.batch_size = batch_size
        self.report = report
        self.progress = progress
        self.versions: dict[str, int] = {}
        """Each stream's version in the target, the batch being made included."""
        self.batch: list[RecordedMessage] = []

    def run(self, categories: Sequence[str], transform: Transform | None) -> None:
        """Copy the categories' streams, each message through `transform` if given."""
        target, report, versions = self.target, self.report, self.versions
        empty = {c for c in categories if not target.read_category(c, batch_size=1)}
        for message in in_global_order(self.source, categories):
            if transform is not None:
                message = transform(message)
            name = message.stream_name
            version = versions.get(name)
            if version is None:
                report.streams += 1
                in_empty = category_of(name) in empty
                version = -1 if in_empty else self._copied_prefix(name, transform)
            report.global_position = message.global_position
            if message.position <= version:
                report.present += 1
            elif message.position == version + 1:
                version = message.position
                self.batch.append(message)
            else:
                raise CopyError(
                    f"source stream {name!r} skips from position {version} to {message.position}"
                )
            versions[name] = version
            if len(self.batch) == self.batch_size:
                self._write()
        self._write()

    def _copied_prefix(self, name: str, transform: Transform | None) -> int:
        """The target stream's version, once its messages are found equal to the source's.

        Raises `CopyError` naming the stream when they differ.
        """
        version = self.target.stream_version(name)
        if version < 0:
            return version
        difference = stream_difference(self.source, self.target, name, transform, version)
        if difference is not None:
            raise CopyError(
                f"target stream {name!r} already holds other messages than the source's "
                f"(position {difference.position}: {difference.problem}): the copy leaves "
                "it alone and stops"
            )
        return version

    def _write(self) -> None:
        """Append the batch in one commit, each stream's run of messages at its version.

        Raises `CopyError` when the target refuses it.
        """
        batch = self.batch
        if not batch:
            return
        writes = []
        for name, run in itertools.groupby(batch, key=lambda message: message.stream_name):
            messages = list(run)
            new = [NewMessage(m.id, m.type, m.data, m.metadata) for m in messages]
            writes.append(StreamWrite(name, messages[0].position - 1, new))
        try:
            self.target.append(writes)
        except ExpectedVersionError as error:
            raise CopyError(
                f"target stream {error.stream_name!r} was written by someone else during the "
                f"copy (at version {error.actual_version}, the copy expected "
                f"{error.expected_version}): stop the target's writers and run the copy again"
            ) from error
        except DuplicateMessageError as error:
            streams = (m.stream_name for m in batch if m.id == error.message_id)
            stream = next(streams, "(unknown)")
            raise CopyError(
                f"message id {error.message_id} of source stream {stream!r} is stored in the "
                "target under another stream"
            ) from error
        self.report.copied += len(batch)
        batch.clear()
        if self.progress is not None:
            self.progress(self.report)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aggregen.runtime.copy FROM_URI TO_URI`: copy, or compare with `--verify`.

    Exit status 0 when done (or no difference found), 1 when the copy stopped or
    differences were found, 2 for bad arguments, 130 when interrupted. Progress goes
    to stderr, the result to stdout; URIs are shown with their passwords as `***`.
    """
    from .connect import connect
    from .redaction import redact_uri

    arguments = _parser().parse_args(argv)
    source_uri, target_uri = arguments.source, arguments.target
    arguments.source = arguments.target = None  # no password in a frame's locals
    out, err = sys.stdout, sys.stderr
    shown_source, shown_target = redact_uri(source_uri), redact_uri(target_uri)
    shown = f"{shown_source} to {shown_target}"
    try:
        with connect(source_uri) as source, connect(target_uri) as target:
            source_uri = target_uri = ""
            # The source first: a source that cannot be read leaves the target untouched.
            _check_usable(source, f"FROM_URI {shown_source}")
            _check_usable(target, f"TO_URI {shown_target}")
            if arguments.verify:
                err.write(f"aggregen copy: comparing {shown}\n")
                differences = verify_streams(
                    source, target, arguments.category, positions=arguments.positions
                )
                for difference in differences:
                    out.write(f"{difference}\n")
                count = len(differences)
                out.write(
                    f"{count} stream{'' if count == 1 else 's'} differ{'s' if count == 1 else ''}\n"
                )
                return 1 if differences else 0
            err.write(f"aggregen copy: copying {shown}\n")
            report = copy_streams(
                source,
                target,
                arguments.category,
                batch_size=arguments.batch_size,
                positions=arguments.positions,
                progress=_Progress(err),
            )
            out.write(report.summary() + "\n")
            return 0
    except AggregenError as error:
        source_uri = target_uri = ""
        err.write(f"aggregen copy: error: {error}\n")
        return 1
    except KeyboardInterrupt:
        source_uri = target_uri = ""
        err.write("aggregen copy: interrupted; run the same command again to continue\n")
        return 130


_PROBE = "aggregen:copy-probe"
"""A stream name whose version is read to find out whether a store can be used."""


def _check_usable(store: EventStore, named: str) -> None:
    """Read a stream version from `store`, so that a store that cannot be used (a
    database without MessageDB, a server out of reach) is named before anything is
    copied. Raises `EventStoreError` starting with `named` (a URI without password)."""
    try:
        store.stream_version(_PROBE)
    except EventStoreError as error:
        raise EventStoreError(f"{named}: {error}") from error


class _Progress:
    """Writes the copy's progress to `stream`, at most once a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0

    def __call__(self, report: CopyReport) -> None:
        now = time.monotonic()
        if now - self._last >= 1.0:
            self._last = now
            self._stream.write(
                f"aggregen copy: {report.copied} messages copied, {report.present} already "
                f"there, up to source global position {report.global_position}\n"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregen copy",
        description=(
            "Copy every stream of the given categories (default: all) from one event "
            "store to another, keeping message ids, types, data, metadata and stream "
            "positions; run it again after a crash to continue. URIs as connect() "
            "takes them: memory://, postgresql://..., nats://..."
        ),
    )
    parser.add_argument("source", metavar="FROM_URI", help="the store to copy from")
    parser.add_argument("target", metavar="TO_URI", help="the store to copy to")
    parser.add_argument(
        "--category",
        action="append",
        help="a category to copy (repeatable; default: every category of FROM_URI)",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH_SIZE,
        help=f"messages per commit (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--positions",
        choices=POSITION_CHOICES,
        default="skip",
        help=(
            "consumer positions ({category}:position-{consumer}): leave them out (default), "
            "or copy them translated into the target's global positions"
        ),
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="copy nothing: compare the stores stream by stream and list the differences",
    )
    return parser


def _batch_size(text: str) -> int:
    try:
        return check_batch_size(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}") from None


if __name__ == "__main__":
    sys.exit(main())
