"""`AsyncJetStreamEventStore` and `JetStreamEventStore`: MessageDB's semantics on NATS JetStream.

One JetStream stream (named by the URI's prefix, replicated, file storage,
`allow_atomic`, `allow_direct`) holds every MessageDB stream of the store, each on
its own subject (see `jetstream_subjects`); messages as NATS carries them are
`jetstream_messages`' concern, errors `jetstream_errors`'.

- Positions: a stream's positions count from 0, kept in each message's payload
  (see `jetstream_messages`). The global position is the JetStream sequence: increasing, not
  contiguous (message-id records and other categories take sequences between),
  as MessageDB's global positions are not contiguous per category either.
- Expected versions: each append reads the last message of every stream it writes
  from the stream leader (fresh), and the first message of each stream carries
  `Nats-Expected-Last-Subject-Sequence` with that message's sequence: the server
  refuses the append if anything was written to the stream since.
- Atomic multi-stream commits: one atomic batch (`Nats-Batch-Id`, ...) per append,
  its commit answer's `batch` and `count` checked. A stream without atomic batches
  (nats-server before 2.12) is refused with `ConfigurationError`.
- Message ids are unique for ever, not only within JetStream's duplicate window:
  each message id gets a record on `<prefix>.i.<id>` in the same batch, expected
  to be the subject's first message. A refused append is diagnosed by looking the
  ids and versions up on the leader: all ids stored in their streams is a retry
  that succeeded before (no error); else the error MessageDB would raise.
- A batch holds at most `MAX_BATCH` messages (a server limit): an append of more
  than `MAX_BATCH // 2` messages (each has its id record) raises `EventStoreError`
  and stores nothing; it is never split.
- Reads use batched direct gets, which any replica answers; a replica may lag
  behind the leader, so each read first asks the leader for the last sequence it
  must see and reads on until it has it. Their messages bypass nats-py's message
  objects and header parser (`jetstream_wire`) and are decoded as they arrive.
  Consumer groups of 2 to 64 members filter on the server (partition bits in the
  subject), others on the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import orjson

from .category import ConsumerGroup, category_of, check_batch_size, check_category
from .errors import (
    ConfigurationError,
    DuplicateMessageError,
    EventStoreError,
    StreamDataError,
    version_conflict,
)
from .extras import JETSTREAM_EXTRA
from .jetstream_errors import (
    CONFLICTS,
    NOT_FOUND,
    STREAM_NOT_FOUND,
    ApiError,
    LeaderElected,
    api_error,
    transport_error,
)
from .jetstream_messages import (
    EXPECTED,
    STATUS,
    Encoded,
    PageCache,
    correlation_category,
    decode,
    encode,
    header_block,
    stored_position,
    with_position,
)
from .jetstream_retry import ApiRefusal, deadline, request_timeout, retrying
from .jetstream_subjects import (
    category_filter,
    category_of_subject,
    check_prefix,
    id_subject,
    partition_filter,
    stream_name_of,
    streams_filter,
    subject_of,
)
from .message import RecordedMessage, StreamWrite, check_message_id

if TYPE_CHECKING:
    from nats.aio.msg import Msg

    from .jetstream_wire import WireClient

__all__ = ["MAX_BATCH", "AsyncJetStreamEventStore", "JetStreamEventStore", "parse_uri"]

T = TypeVar("T")

logger = logging.getLogger("aggregen.jetstream")

MAX_BATCH = 1000
"""Messages in one atomic batch, at most (nats-server's default limit)."""


_DEFAULT_PREFIX = "aggregen"


def parse_uri(uri: str) -> tuple[list[str], str]:
    """The server URLs and the stream prefix of `nats://h1:4222,h2:4222/prefix`.

    The prefix (the path) names the JetStream stream and starts its subjects;
    without one it is `aggregen`. Raises `ConfigurationError` for another scheme,
    no host, or a prefix that cannot name a stream.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator or scheme.lower() != "nats":
        raise ConfigurationError("a JetStream URI starts with nats://")
    hosts, _, path = rest.partition("/")
    servers = [f"nats://{host.strip()}" for host in hosts.split(",") if host.strip()]
    if not servers:
        raise ConfigurationError("a JetStream URI names at least one host: nats://host:4222/prefix")
    if any("@" in server for server in servers):
        raise ConfigurationError("credentials in a JetStream URI are not supported yet")
    prefix = path.strip("/") or _DEFAULT_PREFIX
    try:
        return servers, check_prefix(prefix)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


class _Last(NamedTuple):
    """A stream's last message as the leader knows it: its sequence and position."""

    sequence: int
    position: int


_SEEK_FROM = 256
"""A read from this position on seeks its first sequence rather than reading the
positions before it (about 20 leader gets against 256 messages read and dropped)."""

_NONE = _Last(0, -1)
"""An empty stream: no sequence (0, as the expected-sequence header takes it), version -1."""


class AsyncJetStreamEventStore:
    """Streams in a JetStream stream for asyncio, with MessageDB's semantics (see the module).

    `uri` is `nats://host1:4222,host2:4222,host3:4222/prefix`. The JetStream stream
    `prefix` is created on first use with `replicas` replicas when it is missing;
    an existing one must allow atomic batches and direct gets. `timeout` bounds each
    request (seconds; most wait 1 s at first, see `jetstream_retry.FIRST_TIMEOUT`);
    `retry_deadline` bounds each operation as a whole: the first connection, retries
    through a leader election or a node restart (`jetstream_retry`), and the wait for
    a write in flight. Raises `ConfigurationError` for a URI that cannot be read;
    operations raise what `EventStore`'s do. Use one store per event loop.
    """

    def __init__(
        self,
        uri: str,
        *,
        replicas: int = 3,
        timeout: float = 5.0,
        retry_deadline: float = 15.0,
        batch_size: int = 1000,
    ) -> None:
        try:
            import nats  # noqa: F401  (here: a missing extra is found when the store is made)
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                f"JetStream needs nats-py, which is not installed: pip install '{JETSTREAM_EXTRA}'",
                name="nats",
            ) from error
        self._servers, self._prefix = parse_uri(uri)
        self._replicas = replicas
        self._timeout = timeout
        self._retry_deadline = retry_deadline
        self._batch_size = check_batch_size(batch_size)
        self._nc: WireClient | None = None
        self._elected: asyncio.Future[None] | None = None
        """Done when the stream next elects a leader (`_leader_elected`)."""
        self._ready: asyncio.Lock | None = None
        self._closed = False

    @property
    def retry_deadline(self) -> float:
        """Seconds an operation is retried through a leader election (`jetstream_retry`)."""
        return self._retry_deadline

    @property
    def prefix(self) -> str:
        """The JetStream stream's name, and the first token of its subjects."""
        return self._prefix

    async def __aenter__(self) -> AsyncJetStreamEventStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        self._closed = True
        if self._nc is not None:
            nc, self._nc = self._nc, None
            await nc.close()

    # -- connection and the JetStream API --------------------------------------------

    async def _connection(self) -> WireClient:
        """The connection, made on first use together with the JetStream stream."""
        if self._nc is not None:
            return self._nc
        if self._closed:
            raise EventStoreError("event store failed: the store is closed")
        if self._ready is None:
            self._ready = asyncio.Lock()
        async with self._ready:
            if self._nc is None:
                import nats  # imported on first use: the jetstream extra

                from .jetstream_wire import WireClient

                nc = WireClient()
                failures: list[Exception] = []

                async def failed(error: Exception) -> None:
                    # nats-py's own default logs each with its traceback, as an error.
                    failures.append(error)
                    logger.warning("NATS connection: %s: %s", type(error).__name__, error)

                # nats-py tries the servers in turn until one answers (for ever, with
                # max_reconnect_attempts=-1, the reconnecting an election needs): the
                # first connection is bounded by the call's retry deadline instead.
                loop = asyncio.get_running_loop()
                try:
                    await asyncio.wait_for(
                        nc.connect(
                            self._servers,
                            name="aggregen",
                            connect_timeout=max(1, int(self._timeout)),
                            max_reconnect_attempts=-1,
                            error_cb=failed,
                        ),
                        max(0.0, deadline(self._retry_deadline) - loop.time()),
                    )
                except (OSError, nats.errors.Error) as error:
                    await _closed(nc)
                    raise _unreachable(self._servers, failures, error) from error
                try:
                    self._elected = loop.create_future()
                    await nc.subscribe_raw(
                        f"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.{self._prefix}",
                        self._leader_elected,
                    )
                    await self._ensure_stream(nc)
                except BaseException:
                    await nc.close()
                    raise
                self._nc = nc
        assert self._nc is not None
        return self._nc

    def _leader_elected(self, headers: bytes | None, payload: bytes) -> None:
        """On JetStream's advisory that the stream elected a leader: every request waiting
        for an answer gives up at once (`LeaderElected`) and its operation is retried,
        instead of waiting out its timeout for an answer the old leader will not send."""
        elected, self._elected = self._elected, asyncio.get_running_loop().create_future()
        if elected is not None and not elected.done():
            elected.set_result(None)
        logger.info("JetStream stream %r elected a new leader", self._prefix)

    async def _answered(
        self, answer: asyncio.Future[T], timeout: float, *, setup: bool = False
    ) -> T:
        """The result of `answer`, a request's; `TimeoutError` after `timeout` seconds,
        `LeaderElected` when the stream elects a leader first (see `_leader_elected`),
        except for the requests that set the stream up (`setup`: creating it elects
        its first leader)."""
        elected = None if setup else self._elected
        if elected is None:
            return await asyncio.wait_for(answer, timeout)
        done, _ = await asyncio.wait(
            (answer, elected), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if answer in done:
            return answer.result()
        answer.cancel()
        if elected in done:
            raise LeaderElected
        raise TimeoutError

    async def _ensure_stream(self, nc: WireClient) -> None:
        """Create the JetStream stream if missing; check it does atomic batches."""
        name = self._prefix
        # Once per store, and creating a replicated stream takes time: the whole `timeout`.
        answer = await self._api(
            f"$JS.API.STREAM.INFO.{name}",
            {},
            nc=nc,
            allow={STREAM_NOT_FOUND},
            timeout=self._timeout,
            setup=True,
        )
        if "config" not in answer:
            config = {
                "name": name,
                "subjects": [f"{name}.>"],
                "num_replicas": self._replicas,
                "storage": "file",
                "retention": "limits",
                "discard": "old",
                "allow_atomic": True,
                "allow_direct": True,
                "deny_delete": True,
                "deny_purge": True,
            }
            answer = await self._api(
                f"$JS.API.STREAM.CREATE.{name}", config, nc=nc, timeout=self._timeout, setup=True
            )
        config = answer.get("config", {})
        if config.get("allow_atomic") is not True:
            raise ConfigurationError(
                f"the JetStream stream {name!r} does not allow atomic batch publish "
                "(allow_atomic): it needs nats-server 2.12 or later, and a stream "
                "created with allow_atomic: true"
            )
        if config.get("allow_direct") is not True:
            raise ConfigurationError(
                f"the JetStream stream {name!r} does not allow direct gets (allow_direct)"
            )

    async def _api(
        self,
        subject: str,
        body: dict[str, Any],
        *,
        nc: WireClient | None = None,
        allow: frozenset[int] | set[int] = frozenset(),
        timeout: float | None = None,
        setup: bool = False,
    ) -> dict[str, Any]:
        """The answer of a JetStream API request; an error not in `allow` is raised.

        `timeout`: the wait for the answer, instead of `request_timeout`'s; `setup`:
        see `_answered`."""
        reply = await self._request(
            subject, orjson.dumps(body), nc=nc, timeout=timeout, setup=setup
        )
        answer: dict[str, Any] = orjson.loads(reply.data)
        error = api_error(answer)
        if error is not None and error.err_code not in allow:
            raise EventStoreError(f"event store failed: {error}") from ApiRefusal(error)
        return answer

    async def _request(
        self,
        subject: str,
        payload: bytes,
        *,
        headers: dict[str, str] | None = None,
        nc: WireClient | None = None,
        commit: bool = False,
        timeout: float | None = None,
        setup: bool = False,
    ) -> Msg:
        import nats.errors

        connection = nc or await self._connection()
        if timeout is None:
            timeout = request_timeout(self._timeout)
        try:
            # nats-py's own timeout a little later: this one is the one that counts.
            request = connection.request(subject, payload, timeout=timeout + 1, headers=headers)
            return await self._answered(asyncio.ensure_future(request), timeout, setup=setup)
        except (OSError, nats.errors.Error) as error:
            raise transport_error(error, commit=commit) from error

    async def _last(self, subject: str) -> _Last:
        """The last message on `subject` (may hold wildcards), asked of the stream leader."""
        return await self._get({"last_by_subj": subject})

    async def _get(self, request: dict[str, Any]) -> _Last:
        """The sequence and position of the message a leader get finds; `_NONE` if none."""
        answer = await self._api(
            f"$JS.API.STREAM.MSG.GET.{self._prefix}", request, allow={NOT_FOUND}
        )
        message = answer.get("message")
        if message is None:
            return _NONE
        import base64

        raw_headers = base64.b64decode(message["hdrs"]) if "hdrs" in message else None
        position = stored_position(base64.b64decode(message.get("data", "")), raw_headers)
        if position < 0:
            raise StreamDataError(
                stream_name_of(message.get("subject", "?.s.?._")),
                -1,
                f"no readable position in the message at sequence {message['seq']}",
            )
        return _Last(int(message["seq"]), position)

    async def _seek(self, subject: str, position: int, last: _Last) -> int:
        """The sequence from which the stream's message at `position` comes first: a
        binary search over sequences with leader gets (about log2 of the last sequence
        of them), cheaper than reading the positions before it when there are many."""
        low, high = 1, last.sequence
        while low < high:
            middle = (low + high) // 2
            found = await self._get({"seq": middle, "next_by_subj": subject})
            if found.sequence and found.position < position:
                low = found.sequence + 1
            else:
                high = middle
        return low

    # -- writing ---------------------------------------------------------------------

    @retrying
    async def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none, in one atomic batch; see `EventStore.append`.

        Appending messages that are all stored already (the retry of a commit)
        succeeds without storing them again. Raises `EventStoreError` for more than
        `MAX_BATCH // 2` messages (nothing is stored), `CommitOutcomeUnknownError`
        when the commit's answer did not come by `retry_deadline` (a leader election
        is ridden out, see `jetstream_retry`).
        """
        # Category by category in sorted order, as MessageDB writes them: the global
        # positions of one append's messages come in the same order in every store.
        writes = sorted(writes, key=_category) if len(writes) > 1 else writes
        encoded = encode(writes)
        count = sum(len(messages) for _, messages in encoded)
        if not count:
            return
        if 2 * count > MAX_BATCH:
            raise EventStoreError(
                f"event store failed: an append to JetStream holds at most {MAX_BATCH // 2} "
                f"messages (one atomic batch of {MAX_BATCH}, a message and its id record "
                f"each), not {count}: nothing was stored"
            )
        loop = asyncio.get_running_loop()
        ends = deadline(self._retry_deadline)  # the call's: not a deadline of its own
        while True:
            error = await self._try_append(writes, encoded)
            if error is None:
                return
            # Refused: why? A retry of a stored append is a success; else MessageDB's error.
            if await self._diagnose(writes):
                return
            # Nothing wrong now: a write to one of the streams was in flight (10164), or
            # one came between the version look-up and the batch. Again, until the deadline.
            if loop.time() >= ends:
                raise EventStoreError(f"event store failed: {error}, retried until the deadline")
            await asyncio.sleep(0.01)

    async def _try_append(
        self, writes: Sequence[StreamWrite], encoded: list[tuple[str, list[Encoded]]]
    ) -> ApiError | None:
        """Publish the append as one atomic batch; the server's refusal, or None.

        A stream whose first write expects version -1 (a new stream) is not looked up:
        its first message expects no message on the subject (sequence 0), which the
        server checks. A write of no messages checks nothing, as on MessageDB (whose
        check is per message).
        """
        first_expected: dict[str, int | None] = {}
        for write, (_, messages) in zip(writes, encoded, strict=True):
            if messages:
                first_expected.setdefault(write.stream_name, write.expected_version)
        looked_up = [name for name, expected in first_expected.items() if expected != -1]
        found = await asyncio.gather(*(self._last(subject_of(self._prefix, n)) for n in looked_up))
        lasts = dict.fromkeys(first_expected, _NONE)
        lasts.update(zip(looked_up, found, strict=True))
        versions = {name: last.position for name, last in lasts.items()}
        checked: set[str] = set()
        batch: list[tuple[str, bytes, dict[str, str]]] = []
        records: list[tuple[str, bytes, dict[str, str]]] = []
        for write, (name, messages) in zip(writes, encoded, strict=True):
            if not messages:
                continue
            if write.expected_version is not None and write.expected_version != versions[name]:
                return ApiError(400, 0, f"stream {name!r} is at version {versions[name]}")
            subject = subject_of(self._prefix, name)
            for message_id, start in messages:
                versions[name] += 1
                headers = {}
                if name not in checked:
                    headers[EXPECTED] = str(lasts[name].sequence)
                    checked.add(name)
                batch.append((subject, with_position(start, versions[name]), headers))
                records.append(
                    (id_subject(self._prefix, message_id), name.encode(), {EXPECTED: "0"})
                )
        return await self._publish_batch(batch + records)

    async def _publish_batch(
        self, batch: list[tuple[str, bytes, dict[str, str]]]
    ) -> ApiError | None:
        """Send `batch` atomically; None when committed, the server's error for a conflict."""
        import nats.errors

        nc = await self._connection()
        batch_id = secrets.token_urlsafe(12)  # 96 random bits; short: stored with each message
        last = len(batch)
        frames = []
        for sequence, (subject, payload, headers) in enumerate(batch[:-1], 1):
            headers["Nats-Batch-Id"] = batch_id
            headers["Nats-Batch-Sequence"] = str(sequence)
            frames.append((subject, header_block(headers), payload))
        try:
            await nc.publish_many(frames)  # no answers: only the commit has one
        except (OSError, nats.errors.Error) as error:
            raise transport_error(error, commit=False) from error
        subject, payload, headers = batch[-1]
        headers["Nats-Batch-Id"] = batch_id
        headers["Nats-Batch-Sequence"] = str(last)
        headers["Nats-Batch-Commit"] = "1"
        reply = await self._request(subject, payload, headers=headers, nc=nc, commit=True)
        try:
            answer = orjson.loads(reply.data)
        except orjson.JSONDecodeError:
            answer = {"error": {"description": repr(reply.data[:200])}}
        refused = api_error(answer)
        if refused is not None:
            if refused.err_code in CONFLICTS:
                return refused
            raise EventStoreError(
                f"event store failed: {refused}; nothing was stored"
            ) from ApiRefusal(refused)
        if answer.get("batch") != batch_id or answer.get("count") != last:
            raise ConfigurationError(
                f"the JetStream server stored a batch of {last} messages without "
                f"confirming it as one atomic batch (answer {answer!r}): it needs "
                "nats-server 2.12 or later with allow_atomic"
            )
        return None

    async def _diagnose(self, writes: Sequence[StreamWrite]) -> bool:
        """After a refused append: True if every message is stored in its stream already;
        else raise the error MessageDB would raise; False when nothing is wrong now."""
        # A UUID's case does not count, as in MessageDB's uuid column (`check_message_id`).
        ids = [(check_message_id(m.id), w.stream_name) for w in writes for m in w.messages]
        names = list(dict.fromkeys(write.stream_name for write in writes))
        stored, lasts = await asyncio.gather(
            asyncio.gather(*(self._stored_id(message_id) for message_id, _ in ids)),
            asyncio.gather(*(self._last(subject_of(self._prefix, name)) for name in names)),
        )
        owners = dict(zip([message_id for message_id, _ in ids], stored, strict=True))
        if all(owners[message_id] == name for message_id, name in ids):
            return True
        versions = {name: last.position for name, last in zip(names, lasts, strict=True)}
        # In MessageDB's order: writes by category, each message's version, then its id.
        new_ids: set[str] = set()
        for write in sorted(writes, key=lambda w: category_of(w.stream_name)):
            name, expected = write.stream_name, write.expected_version
            for message in write.messages:
                if expected is not None:
                    if expected != versions[name]:
                        raise version_conflict(name, expected, versions[name])
                    expected += 1
                key = check_message_id(message.id)
                if owners[key] is not None or key in new_ids:
                    raise DuplicateMessageError(key)
                new_ids.add(key)
                versions[name] += 1
        return False

    async def _stored_id(self, message_id: str) -> str | None:
        """The stream holding `message_id`, asked of the leader; None if it is not stored."""
        answer = await self._api(
            f"$JS.API.STREAM.MSG.GET.{self._prefix}",
            {"last_by_subj": id_subject(self._prefix, message_id)},
            allow={NOT_FOUND},
        )
        message = answer.get("message")
        if message is None:
            return None
        import base64

        return base64.b64decode(message.get("data", "")).decode()

    # -- reading ---------------------------------------------------------------------

    async def read(self, stream_name: str, position: int = 0) -> AsyncIterator[RecordedMessage]:
        """The stream's messages from `position` on, read a page at a time.

        JetStream finds a stream's messages by sequence, not by position: a read from
        a position below `_SEEK_FROM` reads the positions before it too and drops
        them; from a later one it first searches for the sequence to start from.
        """
        cursor, page = await self.start(stream_name, position)
        while True:
            for message in page:
                yield message
            if cursor.done:
                return
            page = await self.page(cursor)

    @retrying
    async def start(
        self, stream_name: str, position: int = 0
    ) -> tuple[StreamCursor, list[RecordedMessage]]:
        """A read of the stream from `position`: its cursor (where it ends: the stream's
        last message, asked of the leader) and its first page, in one call.

        From a position below `_SEEK_FROM` the leader's answer and the first page (from
        the first sequence) are asked for at once: a page a lagging replica cut short
        or left empty is read on, or asked for again, up to what the leader holds.
        """
        subject = subject_of(self._prefix, stream_name)
        position = max(position, 0)  # an empty stream is done for position 0, not for -1
        if position >= _SEEK_FROM:
            cursor = StreamCursor(subject, position, await self._last(subject))
            if cursor.done:
                return cursor, []
            cursor.sequence = await self._seek(subject, position, cursor.last)
            return cursor, await self.page(cursor)
        last, page = await self._last_and_page(subject, 1, self._batch_size)
        cursor = StreamCursor(subject, position, last)
        if cursor.done:
            return cursor, []
        if not page:
            page = await self._direct(subject, 1, self._batch_size, last)
        return cursor, cursor.take(page)

    @retrying
    async def page(self, cursor: StreamCursor) -> list[RecordedMessage]:
        """The next page of `cursor`'s read (maybe empty), moving the cursor past it."""
        page = await self._direct(cursor.subject, cursor.sequence, self._batch_size, cursor.last)
        return cursor.take(page)

    @retrying
    async def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages; see `EventStore.read_category`.

        A member of a consumer group of 2, 4, ... 64 members reads only its streams
        (one subject filter on the partition bits); a member of a group of another
        size reads its category whole and keeps its streams here. Either way it
        gets MessageDB's partition exactly. The correlation filter is applied here.
        """
        check_category(category)
        check_batch_size(batch_size)
        if correlation is not None:
            check_category(correlation, "correlation category")
        subject = category_filter(self._prefix, category)
        if consumer_group is not None:
            on_server = partition_filter(self._prefix, category, consumer_group)
            if on_server is not None:
                subject, consumer_group = on_server, None
        chosen: list[RecordedMessage] = []
        sequence = max(position, 1)
        filtered = consumer_group is not None or correlation is not None
        wanted = self._batch_size if filtered else batch_size
        last, page = await self._last_and_page(subject, sequence, wanted)
        while sequence <= last.sequence and len(chosen) < batch_size:
            if not page:
                wanted = self._batch_size if filtered else batch_size - len(chosen)
                page = await self._direct(subject, sequence, wanted, last)
            for message in page:
                if consumer_group is not None and not consumer_group.takes(message.stream_name):
                    continue
                if correlation is not None and correlation_category(message) != correlation:
                    continue
                chosen.append(message)
                if len(chosen) == batch_size:
                    break
            sequence = page[-1].global_position + 1
            page = []
        return chosen

    @retrying
    async def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None; read from the leader."""
        subject = subject_of(self._prefix, stream_name)
        last = await self._last(subject)
        if last.sequence == 0:
            return None
        return (await self._direct(subject, last.sequence, 1, last))[0]

    @retrying
    async def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        return (await self._last(subject_of(self._prefix, stream_name))).position

    @retrying
    async def categories(self) -> list[str]:
        """Every category with a message, sorted (`aggregen.runtime.copy.CategoryListing`).

        Read from the JetStream stream's subjects, one per MessageDB stream: stream info
        with a subject filter, which the stream leader answers from its subject index
        in pages of up to 100,000 subjects, sorted. Its cost grows with the number of
        streams, not of messages; the leader holds its store's read lock while it
        counts them. A stream's subject is never removed (the JetStream stream denies
        deletes and purges), so paging by offset misses none (a subject added meanwhile
        can only show one twice).
        """
        found: set[str] = set()
        offset = 0
        while True:
            request = {"subjects_filter": streams_filter(self._prefix), "offset": offset}
            # The store's whole `timeout`: counting a large stream's subjects takes time.
            answer = await self._api(
                f"$JS.API.STREAM.INFO.{self._prefix}", request, timeout=self._timeout
            )
            subjects = answer.get("state", {}).get("subjects") or {}
            found.update(category_of_subject(subject) for subject in subjects)
            offset += len(subjects)
            if not subjects or offset >= int(answer.get("total", 0)):
                return sorted(found)  # Python's order, as MessageDB's store gives them

    async def _last_and_page(
        self, subject: str, sequence: int, batch: int
    ) -> tuple[_Last, list[RecordedMessage]]:
        """The leader's last message on `subject` and one direct get from `sequence`,
        asked for at once: one round trip instead of two.

        The page may lag behind the leader's answer (a replica behind it: cut short or
        empty) or go past it (messages stored in between): the caller reads on up to
        the leader's last sequence. Cancels the leader's request when the page fails.
        """
        leader = asyncio.ensure_future(self._last(subject))
        try:
            page = await self._direct_once(subject, sequence, batch)
        except BaseException:
            if leader.done() and not leader.cancelled():
                leader.exception()  # seen: the page's failure is the one raised
            leader.cancel()
            raise
        return await leader, page

    async def _direct(
        self, subject: str, sequence: int, batch: int, last: _Last
    ) -> list[RecordedMessage]:
        """Up to `batch` messages on `subject` from `sequence` on, in one batched direct get.

        `last` is what the leader holds: a replica that has nothing from `sequence`
        on yet (it lags behind the leader) is asked again until the call's
        `retry_deadline`, then `EventStoreError`. Never empty.
        """
        loop = asyncio.get_running_loop()
        ends = deadline(self._retry_deadline)  # the call's, as in `append`
        while True:
            page = await self._direct_once(subject, sequence, batch)
            if page:
                return page
            if loop.time() >= ends:
                raise EventStoreError(
                    f"event store failed: no replica served sequence {sequence} to "
                    f"{last.sequence} of {subject!r} in {self._retry_deadline} s"
                )
            await asyncio.sleep(0.005)

    async def _direct_once(self, subject: str, sequence: int, batch: int) -> list[RecordedMessage]:
        """One batched direct get: the messages a replica sends until its end-of-batch
        (a status message). Each is decoded as it arrives (`jetstream_wire`), while
        the server still sends the rest; raises `StreamDataError` for one that
        cannot be decoded."""
        import nats.errors

        nc = await self._connection()
        inbox = nc.new_inbox()
        page: list[RecordedMessage] = []
        cache = PageCache()
        ended = asyncio.get_running_loop().create_future()

        def collect(headers: bytes | None, payload: bytes) -> None:
            if ended.done():
                return
            if headers is not None and headers.startswith(STATUS):
                ended.set_result(None)
                return
            try:
                page.append(decode(headers, payload, cache))
            except StreamDataError as error:
                ended.set_exception(error)

        try:
            sub = await nc.subscribe_raw(inbox, collect)
            try:
                request = {"seq": sequence, "next_by_subj": subject, "batch": batch}
                await nc.publish(
                    f"$JS.API.DIRECT.GET.{self._prefix}", orjson.dumps(request), reply=inbox
                )
                await self._answered(ended, request_timeout(self._timeout))
            finally:
                await nc.unsubscribe_raw(sub)
        except (OSError, nats.errors.Error) as error:
            raise transport_error(error, commit=False) from error
        return page


async def _closed(nc: WireClient) -> None:
    """Close a client whose first connection failed (stopping its tasks), quietly."""
    with contextlib.suppress(Exception):
        await nc.close()


def _unreachable(
    servers: list[str], failures: list[Exception], error: BaseException
) -> EventStoreError:
    """The error for a first connection that failed: the servers, and why the last try
    failed. Retried (`jetstream_retry.retryable`) until the deadline."""
    last = failures[-1] if failures else error
    why = f"{type(last).__name__}: {last}".rstrip(": ")
    return EventStoreError(
        f"event store failed: no NATS server could be reached at {', '.join(servers)} "
        f"({len(failures)} connection attempts failed, the last with {why})"
    )


class StreamCursor:
    """A read of one stream in progress: the next sequence to ask for, up to `last`."""

    def __init__(self, subject: str, position: int, last: _Last) -> None:
        self.subject = subject
        self.position = position
        self.last = last
        self.sequence = 1
        self.done = last.position < position

    def take(self, messages: list[RecordedMessage]) -> list[RecordedMessage]:
        """The messages of a page at or after the read's position; moves past the page."""
        self.sequence = messages[-1].global_position + 1
        self.done = self.sequence > self.last.sequence
        if messages[0].position >= self.position:
            return messages
        return [message for message in messages if message.position >= self.position]


class JetStreamEventStore:
    """`AsyncJetStreamEventStore` behind the synchronous `EventStore` interface.

    Every call runs the async store on an event loop in a thread of the store's
    own, so the two faces are one implementation. Takes the async store's
    arguments and raises its errors. Safe to call from several threads.
    """

    def __init__(self, uri: str, **options: Any) -> None:
        self.inner = AsyncJetStreamEventStore(uri, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aggregen-jetstream", daemon=True
        )
        self._thread.start()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the store's loop; `EventStoreError` once the store is closed."""
        if self._loop.is_closed():
            coroutine.close()
            raise EventStoreError("event store failed: the store is closed")
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a JetStreamEventStore cannot be called from its own thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __enter__(self) -> JetStreamEventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(self, writes: Sequence[StreamWrite]) -> None:
        """Store every write or none; see `AsyncJetStreamEventStore.append`."""
        self._run(self.inner.append(writes))

    def read(self, stream_name: str, position: int = 0) -> Iterator[RecordedMessage]:
        """The stream's messages from `position` on, fetched a page at a time (the first
        with the leader's answer: one call to the store's thread for a short stream)."""
        cursor, page = self._run(self.inner.start(stream_name, position))
        yield from page
        while not cursor.done:
            yield from self._run(self.inner.page(cursor))

    def read_category(
        self,
        category: str,
        position: int = 1,
        *,
        batch_size: int = 1000,
        consumer_group: ConsumerGroup | None = None,
        correlation: str | None = None,
    ) -> list[RecordedMessage]:
        """One batch of the category's messages; see `AsyncJetStreamEventStore.read_category`."""
        return self._run(
            self.inner.read_category(
                category,
                position,
                batch_size=batch_size,
                consumer_group=consumer_group,
                correlation=correlation,
            )
        )

    def read_last(self, stream_name: str) -> RecordedMessage | None:
        """The stream's last message, or None."""
        return self._run(self.inner.read_last(stream_name))

    def stream_version(self, stream_name: str) -> int:
        """The position of the stream's last message; -1 for an empty stream."""
        return self._run(self.inner.stream_version(stream_name))

    def categories(self) -> list[str]:
        """Every category with a message, sorted; see `AsyncJetStreamEventStore.categories`."""
        return self._run(self.inner.categories())

    def close(self) -> None:
        """Close the connection and stop the store's thread."""
        if not self._loop.is_closed():
            self._run(self.inner.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def _category(write: StreamWrite) -> str:
    return write.category
