"""Stream names as JetStream subjects, and back: `<prefix>.s.<category>.<id>.<b0>...<b5>`.

A subject token cannot hold `.`, `*`, `>` or white space, and must not be empty, while
a MessageDB stream name may hold any of them. Each part is escaped: every byte of its
UTF-8 form outside printable ASCII, and `.`, `*`, `>`, `%`, becomes `%XX` (hex), so
subjects are ASCII and the mapping is reversible. The id token starts with `=`
(`=` alone: an empty id); a stream without `-` (no id) has the id token `_`. An empty
category is the token `%`. Message ids, kept to make them unique for ever, live in
`<prefix>.i.<message id>`.

The six last tokens are the low bits of MessageDB's consumer-group hash of the
stream (`0` or `1`, lowest first; `x` for a stream without an id, which no member
reads): a member of a group of 2, 4, ... 64 members reads the streams MessageDB gives
it with one subject filter, `partition_filter`.
"""

from __future__ import annotations

import re

from .category import ConsumerGroup, partition_hash

__all__ = [
    "PARTITION_BITS",
    "category_filter",
    "category_of_subject",
    "check_prefix",
    "id_subject",
    "partition_filter",
    "stream_name_of",
    "streams_filter",
    "subject_of",
]

PARTITION_BITS = 6
"""Bits of the partition hash in a subject: groups of up to 2**6 = 64 filter on the server."""
_NO_PARTITION = ".x" * PARTITION_BITS

_PLAIN = frozenset(range(0x21, 0x7F)) - {ord("."), ord("*"), ord(">"), ord("%")}
_ESCAPED = re.compile(r"%([0-9A-F]{2})")
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_NO_ID = "_"


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it can name a JetStream stream and start its subjects.

    Raises `ValueError` otherwise: letters, digits, `_` and `-`, 1 to 64 of them.
    """
    if not _PREFIX.match(prefix):
        raise ValueError(
            f"invalid JetStream stream prefix {prefix!r}: use 1 to 64 letters, digits, '_' or '-'"
        )
    return prefix


def _escape(part: str) -> str:
    if part.isascii() and all(ord(c) in _PLAIN for c in part):
        return part
    return "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in part.encode())


def _unescape(token: str) -> str:
    if "%" not in token:
        return token
    raw = bytearray()
    index = 0
    for found in _ESCAPED.finditer(token):
        raw += token[index : found.start()].encode()
        raw.append(int(found.group(1), 16))
        index = found.end()
    raw += token[index:].encode()
    return raw.decode()


def _category_token(category: str) -> str:
    return _escape(category) or "%"


def _partition_tokens(stream_name: str) -> str:
    partition = partition_hash(stream_name)
    if partition is None:
        return _NO_PARTITION
    return "".join(f".{partition >> bit & 1}" for bit in range(PARTITION_BITS))


def subject_of(prefix: str, stream_name: str) -> str:
    """The subject holding the messages of `stream_name`."""
    category, separator, stream_id = stream_name.partition("-")
    id_token = "=" + _escape(stream_id) if separator else _NO_ID
    return f"{prefix}.s.{_category_token(category)}.{id_token}{_partition_tokens(stream_name)}"


def stream_name_of(subject: str) -> str:
    """The stream name `subject_of` made `subject` from."""
    _, _, category_token, id_token = subject.split(".")[:4]
    category = "" if category_token == "%" else _unescape(category_token)
    if id_token == _NO_ID:
        return category
    return f"{category}-{_unescape(id_token[1:])}"


def category_of_subject(subject: str) -> str:
    """The category of the stream whose messages `subject` holds (see `category_of`)."""
    token = subject.split(".", 3)[2]
    return "" if token == "%" else _unescape(token)


def streams_filter(prefix: str) -> str:
    """The subject filter matching every stream's subject (and no message id record)."""
    return f"{prefix}.s.>"


def category_filter(prefix: str, category: str) -> str:
    """The subject filter matching every stream of `category` (and nothing else)."""
    return f"{prefix}.s.{_category_token(category)}.>"


def partition_filter(prefix: str, category: str, group: ConsumerGroup) -> str | None:
    """The filter matching exactly the streams of `category` that `group`'s member reads
    (MessageDB's partition), or None when the group's size is not a power of two from 2
    to 2**PARTITION_BITS: then the member must filter the category itself (a group of
    one too: a stream without an id goes to no member, and no filter leaves it out)."""
    bits = group.size.bit_length() - 1
    if group.size != 1 << bits or not 1 <= bits <= PARTITION_BITS:
        return None
    member = "".join(f".{group.member >> bit & 1}" for bit in range(bits))
    rest = ".*" * (PARTITION_BITS - bits)
    return f"{prefix}.s.{_category_token(category)}.*{member}{rest}"


def id_subject(prefix: str, message_id: str) -> str:
    """The subject whose one message records that `message_id` is taken (a UUID string)."""
    return f"{prefix}.i.{message_id.lower()}"
