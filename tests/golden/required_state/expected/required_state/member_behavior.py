# Created by aggregen from schema.yaml, once: this file is yours to edit.
# `aggregen generate` never overwrites or deletes it.
"""Hand-written behaviour of the Member aggregate: edit freely.

aggregen created this module once and never overwrites it. The generated
MemberBase (in member_base.py) holds the state, the commands and the apply
methods; this class is the one the repository rebuilds.
"""

from __future__ import annotations

from .member_base import MemberBase

__all__ = ["Member"]


class Member(MemberBase):
    """The Member aggregate.

    To change what an event does to the state, override its `apply_<event>`
    method (the generated one copies fields).

    To add an invariant, override a command: check, raise `ValidationError` when
    the check fails, then call `super()`.

    To add a command, write a method that calls `self.raise_(...)`.
    """
