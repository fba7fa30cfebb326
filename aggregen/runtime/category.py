"""Categories as MessageDB reads them: a stream's category, its cardinal id, consumer groups.

MessageDB computes these in SQL (`category`, `cardinal_id`, `hash_64`); the functions
here compute the same values in Python, so that the in-memory store gives every
consumer-group member exactly the streams MessageDB gives it.
"""

from __future__ import annotations

from .errors import StreamNameError
from .record import FrozenRecord, set_field

__all__ = [
    "ConsumerGroup",
    "cardinal_id",
    "category_of",
    "check_batch_size",
    "check_category",
    "consumer_group_member",
    "partition_hash",
    "stream_id",
]


def category_of(stream_name: str) -> str:
    """The stream's category, everything before its first `-` (MessageDB's `category`)."""
    return stream_name.split("-", 1)[0]


def stream_id(stream_name: str) -> str | None:
    """The id after the first `-` (MessageDB's `id`): `user-1+a` -> `1+a`; None without `-`."""
    _, separator, found = stream_name.partition("-")
    return found if separator else None


def cardinal_id(stream_name: str) -> str | None:
    """The id after the first `-`, up to any `+` (MessageDB's `cardinal_id`); None without `-`."""
    _, separator, stream_id = stream_name.partition("-")
    if not separator:
        return None
    return stream_id.split("+", 1)[0]


def consumer_group_member(stream_name: str, size: int) -> int | None:
    """Which member of a group of `size` reads the stream; None when no member does.

    MessageDB's rule: `MOD(@hash_64(cardinal_id(stream_name)), size)`, where `hash_64`
    reads the first 16 hex digits of the id's MD5 as a signed 64-bit integer. A
    stream without an id (a category stream) has no cardinal id and goes to nobody.
    """
    partition = partition_hash(stream_name)
    return None if partition is None else partition % size


def partition_hash(stream_name: str) -> int | None:
    """`abs(hash_64(cardinal_id(stream_name)))`, which MessageDB divides by a group's size;
    None for a stream without an id."""
    stream_id = cardinal_id(stream_name)
    if stream_id is None:
        return None
    import hashlib  # a dictionary look-up once loaded; kept out of `import aggregen.runtime`

    digest = hashlib.md5(stream_id.encode(), usedforsecurity=False).digest()
    return abs(int.from_bytes(digest[:8], "big", signed=True))


class ConsumerGroup(FrozenRecord):
    """Member `member` (0 to `size` - 1) of a consumer group of `size` members.

    Each stream of a category belongs to exactly one member (see
    `consumer_group_member`). Raises `ValueError` for a size below 1 or above 32767
    (MessageDB keeps the size in a smallint), or a member outside 0 to `size` - 1.
    """

    __match_args__ = ("member", "size")
    __slots__ = __match_args__
    member: int
    size: int

    def __init__(self, member: int, size: int) -> None:
        for name, value in (("member", member), ("size", size)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"a consumer group {name} must be an int, not {value!r}")
        if not 1 <= size <= 32767:
            raise ValueError(f"a consumer group size must be 1 to 32767, not {size}")
        if not 0 <= member < size:
            raise ValueError(
                f"a consumer group member must be 0 to {size - 1} "
                f"(the group has {size} members), not {member}"
            )
        set_field(self, "member", member)
        set_field(self, "size", size)

    def takes(self, stream_name: str) -> bool:
        """Whether this member reads the stream."""
        return consumer_group_member(stream_name, self.size) == self.member


def check_category(category: str, what: str = "category") -> str:
    """Return `category` if MessageDB can read it as a category; else `StreamNameError`.

    A category is a non-empty stream name without `-` (`user`, `user:snapshot`).
    """
    if not isinstance(category, str) or not category or "-" in category:
        raise StreamNameError(
            f"invalid {what} {category!r}: a category is a non-empty name without '-'"
        )
    return category


def check_batch_size(batch_size: int) -> int:
    """Return `batch_size` if it is a whole number of at least 1; else `ValueError`."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"a batch size must be an int of at least 1, not {batch_size!r}")
    return batch_size
