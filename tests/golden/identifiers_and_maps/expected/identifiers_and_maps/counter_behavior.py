# Created by aggregen from schema.yaml, once: this file is yours to edit.
# `aggregen generate` never overwrites or deletes it.
"""Hand-written behaviour of the Counter aggregate: edit freely.

aggregen created this module once and never overwrites it. The generated
CounterBase (in counter_base.py) holds the state, the commands and the apply
methods; this class is the one the repository rebuilds.
"""

from __future__ import annotations

from .counter_base import CounterBase

__all__ = ["Counter"]


class Counter(CounterBase):
    """The Counter aggregate.

    To change what an event does to the state, override its `apply_<event>`
    method (the generated one copies fields).

    To add an invariant, override a command: check, raise `ValidationError` when
    the check fails, then call `super()`.

    To add a command, write a method that calls `self.raise_(...)`.
    """
