"""Journal lines and journal entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .accounts import Side


@dataclass(frozen=True)
class Line:
    """One line of a journal entry: an amount debited or credited to an account."""

    account_v: str
    side: Side
    amount_v: Decimal


def debit(account_v: str, amount_v: Decimal | int) -> Line:
    return Line(account_v, Side.DEBIT, amount_v)  #


def credit(account_v: str, amount_v: Decimal | int) -> Line:
    return Line(account_v, Side.CREDIT, amount_v)  #


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
        return sum((xln.amount_v for xln in self.lines if xln.side is Side.DEBIT), Decimal(0))
