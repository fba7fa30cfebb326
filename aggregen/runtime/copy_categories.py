"""Which categories a copy between stores takes, and reading them in global order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from .category import check_category
from .errors import ConfigurationError
from .message import RecordedMessage
from .store import EventStore

__all__ = [
    "POSITION_CHOICES",
    "CategoryListing",
    "Positions",
    "Selection",
    "category_messages",
    "choose_categories",
    "consumed_category",
    "in_global_order",
    "is_position_category",
    "list_categories",
]

Positions = Literal["skip", "translate"]
POSITION_CHOICES: tuple[Positions, ...] = ("skip", "translate")

_POSITION = ":position"
_PAGE = 1000
"""Messages per category read: a read costs about as much for 100 messages as for 1,000."""
_BUFFERED = 200_000
"""At most this many messages read ahead over all categories (a page of each is held)."""


@runtime_checkable
class CategoryListing(Protocol):
    """A store that can name its categories: `InMemoryEventStore`, `MessageDBEventStore`,
    `JetStreamEventStore`.

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
    return category.endswith(_POSITION)


def consumed_category(position_category: str) -> str:
    """The category whose positions a position category records: `user:position` -> `user`."""
    return position_category.removesuffix(_POSITION)


@dataclass(frozen=True)
class Selection:
    """The categories a copy takes (sorted): copied as they are, positions translated, left out.

    A position category is translated when asked for and its consumed category is
    copied too; otherwise it is left out.
    """

    categories: list[str]
    translated: list[str]
    left_out: list[str]


def choose_categories(
    source: EventStore, categories: Iterable[str] | None, positions: Positions = "skip"
) -> Selection:
    """The selection of `categories` (None: all of the source's).

    Raises `StreamNameError` for a name that is not a category, `ValueError` for a
    `positions` not in `POSITION_CHOICES`, and `ConfigurationError` when `categories`
    is None and the source cannot list its own.
    """
    if positions not in POSITION_CHOICES:
        raise ValueError(f"positions must be one of {POSITION_CHOICES}, not {positions!r}")
    if categories is None:
        names = list_categories(source)
    else:
        names = sorted({check_category(category) for category in categories})
    copied = [name for name in names if not is_position_category(name)]
    translated = [
        name
        for name in names
        if is_position_category(name)
        and positions == "translate"
        and consumed_category(name) in copied
    ]
    left_out = [name for name in names if is_position_category(name) and name not in translated]
    return Selection(copied, translated, left_out)


def category_messages(
    store: EventStore, category: str, page: int = _PAGE
) -> Iterator[RecordedMessage]:
    """Every message of the category, in global order, read `page` at a time."""
    position = 1
    while True:
        messages = store.read_category(category, position, batch_size=page)
        yield from messages
        if len(messages) < page:
            return
        position = messages[-1].global_position + 1


def in_global_order(store: EventStore, categories: Sequence[str]) -> Iterator[RecordedMessage]:
    """The categories' messages merged in global order, read a page per category at a time."""
    page = max(10, min(_PAGE, _BUFFERED // max(len(categories), 1)))
    return heapq.merge(
        *(category_messages(store, category, page) for category in categories),
        key=lambda message: message.global_position,
    )
