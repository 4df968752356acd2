"""Report value objects: trial balance, income statement, balance sheet."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    name: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class TrialBalance:
    rows: tuple[TrialBalanceRow, ...]
    total_debit: Decimal
    total_credit: Decimal

    @property
    def is_balanced(self) -> bool:
        return self.total_debit == self.total_credit


@dataclass(frozen=True)
class IncomeStatement:
    income: Decimal
    expenses: Decimal

    @property
    def net_income(self) -> Decimal:
        return self.income - self.expenses


@dataclass(frozen=True)
class BalanceSheet:
    assets: Decimal
    liabilities: Decimal
    equity: Decimal
    retained_earnings: Decimal

    @property
    def is_balanced(self) -> bool:
        return self.assets == self.liabilities + self.equity
