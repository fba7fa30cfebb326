"""Decoding direct get pages as the connection receives them (`jetstream_messages`).

No server: the header blocks are written here the way nats-server sends them.
"""

from __future__ import annotations

import datetime

import hypothesis
import pytest
from hypothesis import strategies as st

from aggregen.runtime import RecordedMessage, StreamDataError
from aggregen.runtime.jetstream_messages import (
    POSITION,
    PageCache,
    decode,
    header_block,
    read_headers,
    stored_time,
)
from aggregen.runtime.jetstream_subjects import subject_of

STREAM = "account-4f2a"
STAMP = "2026-11-30T14:45:11.123456789Z"
ID = "0b1f8c1e-77d2-4e4e-9d1f-1b7a0b7c5d10"
BODY = b'[{"amount":5},null,"%s","Deposited",3]' % ID.encode()
LEGACY_BODY = b'[{"amount":5},null,"%s","Deposited"]' % ID.encode()
"""A payload written before positions moved into it (the position in a header)."""


def decode_page(page: list[tuple[bytes | None, bytes]]) -> list[RecordedMessage]:
    """The messages of a page, decoded one by one as the store does."""
    cache = PageCache()
    return [decode(raw, payload, cache) for raw, payload in page]


def block(*lines: str) -> bytes:
    """A header block with `lines` (each `Name: value`)."""
    return ("NATS/1.0\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


def server_block(sequence: str = "17", stamp: str = STAMP, position: str | None = None) -> bytes:
    """A direct get's header block: the batch's two, the server's six (and the store's
    position header, as earlier versions wrote it, when `position` is given)."""
    return block(
        *([f"{POSITION}: {position}"] if position is not None else []),
        "Nats-Batch-Id: 0c5f0e7e3c9a",
        "Nats-Batch-Sequence: 1",
        "Nats-Stream: aggregen",
        f"Nats-Subject: {subject_of('aggregen', STREAM)}",
        f"Nats-Sequence: {sequence}",
        f"Nats-Time-Stamp: {stamp}",
        "Nats-Num-Pending: 0",
        f"Nats-Last-Sequence: {sequence}",
    )


def test_a_page_decodes_to_recorded_messages() -> None:
    later = server_block(sequence="19", stamp="2026-11-30T14:45:12Z")
    first, second = decode_page([(server_block(), BODY), (later, BODY.replace(b",3]", b",4]"))])
    assert first.stream_name == STREAM
    assert (first.position, first.global_position) == (3, 17)
    assert (first.type, first.data, first.metadata) == ("Deposited", {"amount": 5}, None)
    assert first.id == ID
    assert first.time == datetime.datetime(2026, 11, 30, 14, 45, 11, 123456, tzinfo=datetime.UTC)
    assert (second.position, second.global_position) == (4, 19)
    assert second.time == datetime.datetime(2026, 11, 30, 14, 45, 12, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("stamp", "microseconds"),
    [(STAMP, 123456), ("2026-11-30T14:45:11.5Z", 500000), ("2026-11-30T14:45:11Z", 0)],
)
def test_time_stamps_with_trimmed_digits_are_read(stamp: str, microseconds: int) -> None:
    assert stored_time(stamp).microsecond == microseconds


def test_a_header_written_without_a_space_is_read() -> None:
    headers = read_headers(block("Aggregen-Position:7", "Nats-Sequence: 9"))
    assert headers == {b"Aggregen-Position": b"7", b"Nats-Sequence": b"9"}


def test_only_the_headers_the_store_needs_are_read_and_matched_whole() -> None:
    headers = read_headers(block("X-Nats-Sequence: 1", "Nats-Stream: s", "Nats-Sequence: 2"))
    assert headers == {b"Nats-Sequence": b"2"}


@pytest.mark.parametrize(
    "raw",
    [None, b"NATS/1.0 204 EOB\r\n\r\n", b"NATS/1.0\r\nNats-Sequence: 1\r\n", b"HTTP/1.1\r\n\r\n"],
)
def test_what_is_not_a_header_block_is_refused(raw: bytes | None) -> None:
    with pytest.raises(ValueError, match="not a NATS header block"):
        read_headers(raw)


def malformed(raw: bytes | None) -> StreamDataError:
    with pytest.raises(StreamDataError) as caught:
        decode_page([(server_block(), BODY), (raw, BODY)])
    return caught.value


def test_a_cut_block_names_the_stream_and_position() -> None:
    error = malformed(server_block()[:-2])
    assert (error.stream_name, error.position) == (STREAM, 3)
    assert "not a NATS header block" in error.problem


def test_a_message_written_with_its_position_in_a_header_is_read() -> None:
    (message,) = decode_page([(server_block(position="8"), LEGACY_BODY)])
    assert (message.position, message.global_position, message.id) == (8, 17, ID)


def test_an_old_message_without_its_position_header_names_the_stream() -> None:
    with pytest.raises(StreamDataError) as caught:
        decode_page([(server_block(), LEGACY_BODY)])
    assert (caught.value.stream_name, caught.value.position) == (STREAM, -1)
    assert f"missing header {POSITION}" in caught.value.problem


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (BODY.replace(b",3]", b',"3"]'), "stored position is '3'"),
        (BODY.replace(b",3]", b",-1]"), "stored position is -1"),
        (BODY.replace(b",3]", b",true]"), "stored position is True"),
        (BODY.replace(b",3]", b",3,4]"), "not [data, metadata, id, type, position]"),
        (BODY.replace(b'"Deposited"', b"7"), "id or type is not a string"),
        (b"{}", "not [data, metadata, id, type, position]"),
    ],
)
def test_a_payload_of_the_wrong_shape_names_the_stream(body: bytes, problem: str) -> None:
    with pytest.raises(StreamDataError) as caught:
        decode_page([(server_block(), body)])
    assert caught.value.stream_name == STREAM
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (server_block(sequence="seventeen"), "invalid literal for int()"),
        (server_block(stamp="yesterday"), "yesterday"),
        (server_block().replace(b"Nats-Sequence", b"Nats-Sequense"), "Nats-Sequence"),
        (server_block().replace(b"9Z\r\n", b"9\xffZ\r\n"), "utf-8"),
    ],
)
def test_unreadable_server_headers_name_the_stream_and_position(raw: bytes, problem: str) -> None:
    error = malformed(raw)
    assert (error.stream_name, error.position) == (STREAM, 3)
    assert problem in error.problem


def test_a_message_without_headers_is_an_error() -> None:
    error = malformed(None)
    assert (error.stream_name, error.position) == ("?", 3)  # the payload holds the position
    assert "unreadable headers" in str(error)


def test_a_bad_subject_is_an_error_not_a_crash() -> None:
    raw = server_block().replace(subject_of("aggregen", STREAM).encode(), b"nonsense")
    error = malformed(raw)
    assert error.position == 3
    assert "unreadable headers" in error.problem


@pytest.mark.parametrize(
    ("body", "position"),
    [(b"[{", -1), (BODY.replace(b"5}", b"5,}"), 3), (LEGACY_BODY.replace(b"5}", b"5,}"), -1)],
)
def test_a_payload_that_is_not_json_names_the_stream(body: bytes, position: int) -> None:
    """With the position as far as it can be read: the payload's end, else a header."""
    with pytest.raises(StreamDataError, match="not readable JSON") as caught:
        decode_page([(server_block(), body)])
    assert (caught.value.stream_name, caught.value.position) == (STREAM, position)


def test_messages_of_one_batch_share_their_decoded_time() -> None:
    later = server_block(sequence="18")
    first, second = decode_page([(server_block(), BODY), (later, BODY)])
    assert first.time is second.time


def test_a_header_block_the_store_writes_reads_back() -> None:
    raw = header_block({POSITION: "12", "Nats-Batch-Sequence": "3"})
    assert raw == block(f"{POSITION}: 12", "Nats-Batch-Sequence: 3")
    assert read_headers(raw) == {POSITION.encode(): b"12"}


SERVER_LINES = [
    "Nats-Batch-Id: 0c5f0e7e3c9a",
    "Nats-Batch-Sequence: 1",
    "Nats-Stream: aggregen",
    f"Nats-Subject: {subject_of('aggregen', STREAM)}",
    "Nats-Sequence: 17",
    f"Nats-Time-Stamp: {STAMP}",
    "Nats-Num-Pending: 0",
    "Nats-Last-Sequence: 17",
]


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(order=st.permutations(SERVER_LINES))
def test_header_lines_in_any_order_decode_as_in_nats_servers_order(order: list[str]) -> None:
    """`decode` reads nats-server's order with one search and any other order line by
    line: both give the same message."""
    (expected,) = decode_page([(block(*SERVER_LINES), BODY)])
    (decoded,) = decode_page([(block(*order), BODY)])
    assert decoded == expected
    assert decoded.time == expected.time
