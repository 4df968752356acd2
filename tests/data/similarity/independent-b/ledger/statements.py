from decimal import Decimal
from typing import NamedTuple


class TrialBalanceRow(NamedTuple):
    code: str
    name: str
    debit: Decimal
    credit: Decimal


class TrialBalance(NamedTuple):
    rows: tuple
    total_debit: Decimal
    total_credit: Decimal

    @property
    def is_balanced(self) -> bool:
        return not (self.total_debit - self.total_credit)


class IncomeStatement(NamedTuple):
    income: Decimal
    expenses: Decimal

    @property
    def net_income(self) -> Decimal:
        return self.income - self.expenses


class BalanceSheet(NamedTuple):
    assets: Decimal
    liabilities: Decimal
    equity: Decimal
    retained_earnings: Decimal

    @property
    def is_balanced(self) -> bool:
        return self.assets - self.liabilities - self.equity == 0
