"""Small immutable classes written out plainly, as cheap to import as plain classes.

`@dataclass(frozen=True, slots=True)` and `typing.NamedTuple` build their classes by
exec-ing generated source: about half a millisecond per class at import, which
`import aggregen.runtime` cannot afford. The two bases here give their subclasses
the same behaviour from ordinary methods:

- `FrozenRecord`, for what a frozen slotted dataclass gives: equality and hash by
  field values, a repr naming each field, `FrozenInstanceError` on assignment,
  `__match_args__`, pickling, copying and `copy.replace`. A subclass lists its fields
  in order in `__match_args__`, sets `__slots__ = __match_args__`, and its `__init__`
  takes the fields in that order and sets them with `set_field`.
- `TupleRecord`, for what a named tuple gives: a `tuple` whose items are also read
  by name (`_fields`, `_field_defaults`, `_make`, `_replace`, `_asdict`, the repr,
  `__match_args__`, pickling, `copy.replace`). A subclass sets `_fields` and
  `__match_args__` to the names in order, writes `__new__` taking them in that order,
  declares each field as `name: type = field(index)` and sets
  `_field_defaults = defaults_of(__new__)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import FrozenInstanceError
from operator import itemgetter
from typing import Any, ClassVar, Self, dataclass_transform

__all__ = ["FrozenRecord", "TupleRecord", "defaults_of", "field", "set_field"]

set_field = object.__setattr__
"""Sets a field of a `FrozenRecord` in its `__init__`: `set_field(self, "name", value)`."""


# For type checkers, a subclass is a frozen dataclass: assigning a field is an error.
@dataclass_transform(frozen_default=True)
class FrozenRecord:
    """Immutable fields named by the subclass's `__match_args__`, compared and hashed by value.

    Assigning or deleting a field raises `dataclasses.FrozenInstanceError`.
    """

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__match_args__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[FrozenRecord], tuple[Any, ...]]:
        return type(self), self._values()

    def __replace__(self, **changes: Any) -> Self:
        """A copy with the named fields changed (`copy.replace`, as for a dataclass)."""
        values = dict(zip(self.__match_args__, self._values(), strict=True))
        return type(self)(**(values | changes))


def field(index: int) -> Any:
    """A read-only attribute giving item `index` of a `TupleRecord` (in C, like a named tuple's)."""
    return property(itemgetter(index))


def defaults_of(new: Callable[..., Any]) -> dict[str, Any]:
    """The default of each field that has one, read from the class's `__new__`."""
    defaults = new.__defaults__ or ()
    names = new.__code__.co_varnames[1 : new.__code__.co_argcount]
    return dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))


class TupleRecord(tuple[Any, ...]):
    """A tuple whose items are also read by name, with the methods of a named tuple."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _field_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:
        """A record from the items of `iterable`; raises `TypeError` for a wrong count."""
        made = tuple.__new__(cls, iterable)
        if len(made) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(made)}")
        return made

    def _replace(self, **changes: Any) -> Self:
        """A copy with the named fields changed; raises `ValueError` for unknown names."""
        made = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return made

    __replace__ = _replace  # `copy.replace`, as for a named tuple

    def _asdict(self) -> dict[str, Any]:
        """The fields as a dict, in order."""
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=True)
        )
        return f"{type(self).__name__}({fields})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)
