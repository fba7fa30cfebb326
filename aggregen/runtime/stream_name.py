"""MessageDB stream names: `{category}-{id}`, snapshots in `{category}:snapshot-{id}`."""

from __future__ import annotations

from .errors import StreamNameError

__all__ = ["default_category", "snapshot_stream_name", "stream_name", "validate_category"]

_MAX_ID_LENGTH = 500


def default_category(class_name: str) -> str:
    """The category for a class name, first letter lower-cased: `BankAccount` -> `bankAccount`."""
    return class_name[:1].lower() + class_name[1:]


def validate_category(category: str) -> str:
    """Return `category` when MessageDB reads it back unchanged; raise `StreamNameError` if not.

    A category is a letter followed by letters, digits and underscores: `-` would end it
    early, `:` and `+` carry meaning in MessageDB stream names.
    """
    if not (  # what `[A-Za-z][A-Za-z0-9_]*` matches, without compiling a pattern at import
        isinstance(category, str)
        and category.isascii()
        and category[:1].isalpha()
        and category.replace("_", "").isalnum()
    ):
        raise StreamNameError(
            f"invalid stream category {category!r}: use a letter followed by letters, "
            "digits or underscores"
        )
    return category


def _validate_id(aggregate_id: str) -> str:
    if not isinstance(aggregate_id, str):
        raise StreamNameError(f"an aggregate id must be a str, not {type(aggregate_id).__name__}")
    if not aggregate_id:
        raise StreamNameError("an aggregate id must not be empty")
    if len(aggregate_id) > _MAX_ID_LENGTH:
        raise StreamNameError(f"an aggregate id is at most {_MAX_ID_LENGTH} characters long")
    if "+" in aggregate_id:
        raise StreamNameError(
            f"invalid aggregate id {aggregate_id!r}: '+' marks compound ids in MessageDB"
        )
    # Every white space character but " " is unprintable to Python: one C-level scan.
    if not aggregate_id.isprintable() or " " in aggregate_id:
        raise StreamNameError(
            f"invalid aggregate id {aggregate_id!r}: no white space or control characters"
        )
    return aggregate_id


def stream_name(category: str, aggregate_id: str) -> str:
    """The event stream of one aggregate; raises `StreamNameError` for unusable parts."""
    return f"{validate_category(category)}-{_validate_id(aggregate_id)}"


def snapshot_stream_name(category: str, aggregate_id: str) -> str:
    """The snapshot stream of one aggregate, in the category `{category}:snapshot`."""
    return f"{validate_category(category)}:snapshot-{_validate_id(aggregate_id)}"
