from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal

from .chart import Side


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: Decimal

    def signed(self):
        """Positive for a debit, negative for a credit."""
        return self.amount if self.side == Side.DEBIT else self.amount.copy_negate()


def debit(account, amount):
    return Line(account=account, side=Side.DEBIT, amount=amount)


def credit(account, amount):
    return Line(account=account, side=Side.CREDIT, amount=amount)


@dataclass(frozen=True)
class JournalEntry:
    id: int
    date: Date
    description: str
    currency: str
    lines: tuple
    reverses: "int | None" = None

    @property
    def total(self):
        total = Decimal(0)
        for line in self.lines:
            if line.side == Side.DEBIT:
                total = total + line.amount
        return total

    def touches(self, code):
        return any(line.account == code for line in self.lines)
