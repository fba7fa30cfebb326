# Created by aggregen from schema.yaml, once: this file is yours to edit.
# `aggregen generate` never overwrites or deletes it.
"""Hand-written upcasters of the Account events: edit freely.

aggregen created this module once and never overwrites it. For the versions an
event's schema lists under `hand_written_upcast`, the generated `upcast` of the
event (in account_base.py) calls `upcast_<event>(data, version)` here, then
applies its generated steps (aliases, value aliases, defaults) to the result.
Return data that the current version reads. account_base.py imports this module:
do not import it here at the top level.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "upcast_closed",
    "upcast_deposited",
]


def upcast_closed(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Turn stored Closed data of version 1 into version 2 data.

    Called by Closed.upcast; the generated steps (aliases, value aliases,
    defaults) run on what this returns.
    """
    raise NotImplementedError(f"Closed: no upcaster from version {version} yet")


def upcast_deposited(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Turn stored Deposited data of version 1 into version 3 data.

    Called by Deposited.upcast; the generated steps (aliases, value aliases,
    defaults) run on what this returns.
    """
    raise NotImplementedError(f"Deposited: no upcaster from version {version} yet")
