# Created by aggregen from schema.yaml, once: this file is yours to edit.
# `aggregen generate` never overwrites or deletes it.
"""Hand-written behaviour of the Guest aggregate: edit freely.

aggregen created this module once and never overwrites it. The generated
GuestBase (in guest_base.py) holds the state, the commands and the apply methods;
this class is the one the repository rebuilds.
"""

from __future__ import annotations

from .guest_base import GuestBase

__all__ = ["Guest"]


class Guest(GuestBase):
    """The Guest aggregate.

    To change what an event does to the state, override its `apply_<event>`
    method (the generated one copies fields).

    To add an invariant, override a command: check, raise `ValidationError` when
    the check fails, then call `super()`.

    To add a command, write a method that calls `self.raise_(...)`.
    """
