"""Copy an application's streams from one event store to another, and compare them.

`copy_streams` writes every stream of the chosen categories to the target with its
message ids, types, data, metadata and stream positions, in the source's global
order, a batch of messages per commit. Each write carries the expected version the
stream has in the source, so the target's streams end identical to the source's, a
run that crashed can be run again (it continues where it stopped and stores nothing
twice), and a target stream that holds something else is refused by name.
`verify_streams` compares the two stores stream by stream.

Consumer positions (`{category}:position-{consumer}`) hold global positions of the
source, which mean nothing in the target: they are left out and reported.
Everything here uses the `EventStore` protocol only, plus `categories()` (see
`CategoryListing`) when no categories are named. The command line is
`python -m aggregen.runtime.copy` (also `aggregen copy`): see `main`.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from .category import category_of, check_batch_size, check_category
from .errors import AggregenError, ConfigurationError, DuplicateMessageError, ExpectedVersionError
from .message import NewMessage, RecordedMessage, StreamWrite
from .store import EventStore

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CategoryListing",
    "CopyError",
    "CopyReport",
    "Difference",
    "copy_streams",
    "is_position_category",
    "list_categories",
    "main",
    "message_difference",
    "verify_streams",
]

DEFAULT_BATCH_SIZE = 500
"""Messages per commit: well below JetStream's 1,000 messages per atomic batch."""


class CopyError(AggregenError):
    """The copy cannot go on without losing or overwriting something; the message says why."""


@runtime_checkable
class CategoryListing(Protocol):
    """A store that can name its categories: `InMemoryEventStore`, `MessageDBEventStore`.

    The store protocol has no such read (MessageDB offers none of its own); a store
    without it is copied by naming its categories.
    """

    def categories(self) -> list[str]:
        """Every category that holds a message, sorted."""


def list_categories(store: EventStore) -> list[str]:
    """The store's categories; `ConfigurationError` when it cannot list them."""
    if not isinstance(store, CategoryListing):
        raise ConfigurationError(
            f"{type(store).__name__} cannot list its categories: name the categories to copy"
        )
    return list(store.categories())


def is_position_category(category: str) -> bool:
    """Whether the category holds consumer positions (`{category}:position`)."""
    return category.endswith(":position")


def _chosen(source: EventStore, categories: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """The categories to copy and the position categories left out, each sorted.

    Raises `StreamNameError` for a name that is not a category and `ConfigurationError`
    when `categories` is None and the source cannot list its own.
    """
    if categories is None:
        names = list_categories(source)
    else:
        names = sorted({check_category(category) for category in categories})
    return (
        [name for name in names if not is_position_category(name)],
        [name for name in names if is_position_category(name)],
    )


@dataclass
class CopyReport:
    """What a copy did: `copied` messages written, `present` found in the target already.

    `positions` are the position categories left out; `streams` counts the streams seen.
    """

    categories: list[str]
    positions: list[str]
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
        if self.positions:
            text += (
                f"; left out consumer positions ({', '.join(self.positions)}): they hold the "
                "source's global positions, so consumers of the target start afresh"
            )
        return text


def copy_streams(
    source: EventStore,
    target: EventStore,
    categories: Iterable[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[CopyReport], None] | None = None,
) -> CopyReport:
    """Copy every stream of `categories` (None: all the source's) from `source` to `target`.

    Messages go in the source's global order, `batch_size` per `append` (one commit,
    several streams); `progress` is called after each. A stream the target holds
    already must hold a prefix of the source's stream: that prefix is skipped,
    so running the copy again after a crash continues where it stopped. Raises
    `CopyError` naming the stream when the target's stream differs from the source's
    or changes during the copy, or when a message id is stored in the target under
    another stream; `ConfigurationError` when `categories` is None and the source
    cannot list its categories (see `list_categories`); `ValueError` for a batch size
    below 1; the stores' own errors when they fail.
    """
    check_batch_size(batch_size)
    chosen, positions = _chosen(source, categories)
    report = CopyReport(chosen, positions)
    empty = {category for category in chosen if not target.read_category(category, batch_size=1)}
    versions: dict[str, int] = {}
    """Each stream's version in the target, the batch being made included."""
    batch: list[RecordedMessage] = []
    for message in _in_global_order(source, chosen):
        name = message.stream_name
        version = versions.get(name)
        if version is None:
            report.streams += 1
            empty_category = category_of(name) in empty
            version = -1 if empty_category else _copied_prefix(source, target, name)
        report.global_position = message.global_position
        if message.position <= version:
            report.present += 1
        elif message.position == version + 1:
            version = message.position
            batch.append(message)
        else:
            raise CopyError(
                f"source stream {name!r} skips from position {version} to {message.position}"
            )
        versions[name] = version
        if len(batch) == batch_size:
            _write(target, batch, report, progress)
    _write(target, batch, report, progress)
    return report


_PAGE = 1000
"""Messages per category read: a read costs about as much for 100 messages as for 1,000."""
_BUFFERED = 200_000
"""At most this many messages read ahead over all categories (a page of each is held)."""


def _in_global_order(store: EventStore, categories: Sequence[str]) -> Iterator[RecordedMessage]:
    """The categories' messages merged in global order, read a page per category at a time."""
    page = max(10, min(_PAGE, _BUFFERED // max(len(categories), 1)))
    return heapq.merge(
        *(_category(store, category, page) for category in categories),
        key=lambda message: message.global_position,
    )


def _category(store: EventStore, category: str, page: int) -> Iterator[RecordedMessage]:
    """Every message of the category, in global order, read `page` at a time."""
    position = 1
    while True:
        messages = store.read_category(category, position, batch_size=page)
        yield from messages
        if len(messages) < page:
            return
        position = messages[-1].global_position + 1


def _copied_prefix(source: EventStore, target: EventStore, name: str) -> int:
    """The target stream's version, once its messages are found equal to the source's.

    Raises `CopyError` naming the stream when they differ.
    """
    version = target.stream_version(name)
    if version < 0:
        return version
    pairs = itertools.zip_longest(source.read(name), target.read(name))
    for ours, theirs in itertools.islice(pairs, version + 1):
        problem = message_difference(ours, theirs)
        if problem is not None:
            position = (ours or theirs).position
            raise CopyError(
                f"target stream {name!r} already holds other messages than the source's "
                f"(position {position}: {problem}): the copy leaves it alone and stops"
            )
    return version


def _write(
    target: EventStore,
    batch: list[RecordedMessage],
    report: CopyReport,
    progress: Callable[[CopyReport], None] | None,
) -> None:
    """Append `batch` in one commit, each stream's run of messages at its expected version.

    Empties `batch`; raises `CopyError` when the target refuses it.
    """
    if not batch:
        return
    writes = []
    for name, run in itertools.groupby(batch, key=lambda message: message.stream_name):
        messages = list(run)
        new = [NewMessage(m.id, m.type, m.data, m.metadata) for m in messages]
        writes.append(StreamWrite(name, messages[0].position - 1, new))
    try:
        target.append(writes)
    except ExpectedVersionError as error:
        raise CopyError(
            f"target stream {error.stream_name!r} was written by someone else during the "
            f"copy (at version {error.actual_version}, the copy expected "
            f"{error.expected_version}): stop the target's writers and run the copy again"
        ) from error
    except DuplicateMessageError as error:
        stream = next(w.stream_name for w in writes for m in w.messages if m.id == error.message_id)
        raise CopyError(
            f"message id {error.message_id} of source stream {stream!r} is stored in the "
            "target under another stream"
        ) from error
    report.copied += len(batch)
    batch.clear()
    if progress is not None:
        progress(report)


@dataclass(frozen=True)
class Difference:
    """A stream that differs between source and target, from `position` on (None: whole)."""

    stream_name: str
    position: int | None
    problem: str

    def __str__(self) -> str:
        where = "" if self.position is None else f" at position {self.position}"
        return f"{self.stream_name}{where}: {self.problem}"


_COMPARED = ("id", "type", "position", "data", "metadata")


def message_difference(ours: RecordedMessage | None, theirs: RecordedMessage | None) -> str | None:
    """What differs between a source message and the target's at its position; None: nothing.

    Data and metadata are compared as values and never quoted (they may be personal).
    """
    if ours is None:
        return "the target has a message the source lacks"
    if theirs is None:
        return "the target lacks this message"
    for name in _COMPARED:
        mine, other = getattr(ours, name), getattr(theirs, name)
        if mine != other:
            if name in ("data", "metadata"):
                return f"{name} differs"
            return f"{name} differs: source {mine!r}, target {other!r}"
    return None


def verify_streams(
    source: EventStore, target: EventStore, categories: Iterable[str] | None = None
) -> list[Difference]:
    """Compare source and target stream by stream: counts, ids, types, data, metadata,
    positions. One `Difference` per stream that differs (its first difference), sorted.

    Position categories are left out, as `copy_streams` leaves them out. Raises as
    `copy_streams` does for `categories`.
    """
    chosen, _ = _chosen(source, categories)
    differences = []
    for category in chosen:
        ours = {m.stream_name: None for m in _category(source, category, _PAGE)}
        theirs = {m.stream_name: None for m in _category(target, category, _PAGE)}
        for name in sorted(ours.keys() | theirs.keys()):
            difference = _stream_difference(source, target, name)
            if difference is not None:
                differences.append(difference)
    return differences


def _stream_difference(source: EventStore, target: EventStore, name: str) -> Difference | None:
    """The first difference of the stream in the two stores, with both counts; or None."""
    for ours, theirs in itertools.zip_longest(source.read(name), target.read(name)):
        problem = message_difference(ours, theirs)
        if problem is not None:
            counts = (
                f" (source {source.stream_version(name) + 1} messages, "
                f"target {target.stream_version(name) + 1})"
            )
            position = (ours or theirs).position
            return Difference(name, position, problem + counts)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m aggregen.runtime.copy FROM_URI TO_URI`: copy, or compare with `--verify`.

    Exit status 0 when done (or no difference found), 1 when the copy stopped or
    differences were found, 2 for bad arguments. Progress goes to stderr, the result
    to stdout; URIs are shown with their passwords replaced by `***`.
    """
    from .connect import connect
    from .redaction import redact_uri

    arguments = _parser().parse_args(argv)
    source_uri, target_uri = arguments.source, arguments.target
    arguments.source = arguments.target = None  # no password in a frame's locals
    out, err = sys.stdout, sys.stderr
    shown = f"{redact_uri(source_uri)} to {redact_uri(target_uri)}"
    try:
        with connect(source_uri) as source, connect(target_uri) as target:
            source_uri = target_uri = ""
            if arguments.verify:
                err.write(f"aggregen copy: comparing {shown}\n")
                differences = verify_streams(source, target, arguments.category)
                for difference in differences:
                    out.write(f"{difference}\n")
                out.write(f"{len(differences)} streams differ\n")
                return 1 if differences else 0
            err.write(f"aggregen copy: copying {shown}\n")
            report = copy_streams(
                source,
                target,
                arguments.category,
                batch_size=arguments.batch_size,
                progress=_Progress(err),
            )
            out.write(report.summary() + "\n")
            return 0
    except AggregenError as error:
        source_uri = target_uri = ""
        err.write(f"aggregen copy: error: {error}\n")
        return 1


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
            "positions; run it again after a crash to continue. Consumer positions "
            "are left out. URIs as connect() takes them: memory://, postgresql://..."
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
