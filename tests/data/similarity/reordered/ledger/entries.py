"""Journal lines and journal entries."""


from __future__ import annotations


import datetime as dt


from dataclasses import dataclass


from decimal import Decimal


from .accounts import Side


@dataclass(frozen=True)
class JournalEntry:
    """A posted journal entry. Its lines always balance."""
    id: int
    date: dt.date
    description: str
    currency: str
    lines: tuple[Line, ...]
    reverses: int | None = None

    @property
    def total(self) -> Decimal:
        """The sum of the debit lines (equal to the sum of the credit lines)."""
        return sum((ln.amount for ln in self.lines if ln.side is Side.DEBIT), Decimal(0))


def credit(account: str, amount: Decimal | int) -> Line:
    return Line(account, Side.CREDIT, amount)  # type: ignore[arg-type]


def debit(account: str, amount: Decimal | int) -> Line:
    return Line(account, Side.DEBIT, amount)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Line:
    """One line of a journal entry: an amount debited or credited to an account."""
    account: str
    side: Side
    amount: Decimal
