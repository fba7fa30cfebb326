# Created by aggregen from schemas/banking.yaml, once: this file is yours to edit.
# `aggregen generate` never overwrites or deletes it.
"""Hand-written behaviour of the BankAccount aggregate.

aggregen created this module once and never overwrites it. The generated
BankAccountBase (in bank_account_base.py) holds the state, the commands and the
apply methods; this class is the one the repository rebuilds.
"""

from __future__ import annotations

import decimal

from aggregen.runtime import ValidationError

from .bank_account_base import BankAccountBase, Deposited, Withdrawn

__all__ = ["BankAccount"]


class BankAccount(BankAccountBase):
    """An account whose balance changes by deposits and withdrawals.

    The balance is not a copy of an event field: deposits add to it and
    withdrawals take from it, and a withdrawal may not take the balance below
    minus the overdraft limit.
    """

    def apply_deposited(self, event: Deposited) -> None:
        """Add the deposited amount to the balance."""
        self.balance += event.amount

    def apply_withdrawn(self, event: Withdrawn) -> None:
        """Take the withdrawn amount off the balance."""
        self.balance -= event.amount

    def withdraw(
        self, *, amount: decimal.Decimal, reference: str | None = None
    ) -> None:
        """Pay money out; raises `ValidationError` when it would overdraw the account."""
        if (
            isinstance(amount, decimal.Decimal)
            and amount > self.balance + self.overdraft_limit
        ):
            raise ValidationError(
                {
                    "amount": [
                        f"exceeds the available {self.balance + self.overdraft_limit}"
                    ]
                },
                subject="withdrawal",
            )
        super().withdraw(amount=amount, reference=reference)
