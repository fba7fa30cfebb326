"""Runtime settings: the snapshot threshold, from code or the environment."""

from __future__ import annotations

import os

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_SNAPSHOT_THRESHOLD",
    "SNAPSHOT_THRESHOLD_VARIABLE",
    "set_snapshot_threshold",
    "snapshot_threshold",
]

DEFAULT_SNAPSHOT_THRESHOLD = 10
SNAPSHOT_THRESHOLD_VARIABLE = "AGGREGEN_SNAPSHOT_THRESHOLD"

_threshold_in_code: int | None = None


def check_threshold(value: object, source: str) -> int:
    """Return `value` if it is a usable threshold (an int >= 0); raise `ConfigurationError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"{source} must be a whole number >= 0 (0 turns snapshots off), not {value!r}"
        )
    return value


def set_snapshot_threshold(value: int | None) -> None:
    """Set the global snapshot threshold in code; None goes back to the environment."""
    global _threshold_in_code
    _threshold_in_code = None if value is None else check_threshold(value, "snapshot threshold")


def snapshot_threshold() -> int:
    """The global threshold: set in code, else `AGGREGEN_SNAPSHOT_THRESHOLD`, else 10."""
    if _threshold_in_code is not None:
        return _threshold_in_code
    raw = os.environ.get(SNAPSHOT_THRESHOLD_VARIABLE)
    if raw is None or raw.strip() == "":
        return DEFAULT_SNAPSHOT_THRESHOLD
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(
            f"{SNAPSHOT_THRESHOLD_VARIABLE} must be a whole number >= 0 (0 turns snapshots "
            f"off), not {raw!r}"
        )
    return value
