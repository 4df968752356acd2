"""Everything in one place. Amounts are Decimals of whole cents; balances are derived on demand."""

from __future__ import annotations

import datetime
import enum
from decimal import Decimal
from typing import NamedTuple

__all__ = [
    "Account", "AccountType", "BalanceSheet", "ChartOfAccounts", "CurrencyMismatchError",
    "DuplicateAccountError", "IncomeStatement", "InvalidAmountError", "JournalEntry", "Ledger",
    "LedgerError", "Line", "ReversalError", "Side", "TrialBalance", "TrialBalanceRow",
    "UnbalancedEntryError", "UnknownAccountError", "UnknownEntryError", "credit", "debit",
]


class LedgerError(Exception):
    pass


DuplicateAccountError = type("DuplicateAccountError", (LedgerError,), {})
UnknownAccountError = type("UnknownAccountError", (LedgerError,), {})
InvalidAmountError = type("InvalidAmountError", (LedgerError,), {})
UnbalancedEntryError = type("UnbalancedEntryError", (LedgerError,), {})
CurrencyMismatchError = type("CurrencyMismatchError", (LedgerError,), {})
UnknownEntryError = type("UnknownEntryError", (LedgerError,), {})
ReversalError = type("ReversalError", (LedgerError,), {})


class Side(str, enum.Enum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> "Side":
        return {Side.DEBIT: Side.CREDIT, Side.CREDIT: Side.DEBIT}[self]


_DEBIT_NORMAL = {"asset", "expense"}


class AccountType(str, enum.Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Side:
        return Side.DEBIT if self.value in _DEBIT_NORMAL else Side.CREDIT


class Account(NamedTuple):
    code: str
    name: str
    type: AccountType


class ChartOfAccounts(dict):
    def add(self, code, name, kind):
        if code in self:
            raise DuplicateAccountError(code)
        self[code] = Account(code, name, AccountType(kind))
        return self[code]

    def get(self, code):
        if code not in self:
            raise UnknownAccountError(code)
        return self[code]

    def __iter__(self):
        yield from (self[k] for k in sorted(self.keys()))


class Line(NamedTuple):
    account: str
    side: Side
    amount: Decimal


def debit(account, amount):
    return Line(account, Side.DEBIT, amount)


def credit(account, amount):
    return Line(account, Side.CREDIT, amount)


class JournalEntry(NamedTuple):
    id: int
    date: datetime.date
    description: str
    currency: str
    lines: tuple
    reverses: int | None = None

    @property
    def total(self):
        return sum([l.amount for l in self.lines if l.side == Side.DEBIT], Decimal("0"))


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
    def is_balanced(self):
        return self.total_debit == self.total_credit


class IncomeStatement(NamedTuple):
    income: Decimal
    expenses: Decimal

    @property
    def net_income(self):
        return self.income - self.expenses


class BalanceSheet(NamedTuple):
    assets: Decimal
    liabilities: Decimal
    equity: Decimal
    retained_earnings: Decimal

    @property
    def is_balanced(self):
        return self.assets == self.liabilities + self.equity


def _money(x):
    if type(x) not in (int, Decimal):
        raise InvalidAmountError(repr(x))
    d = Decimal(x)
    if d.is_nan() or d.is_infinite() or d <= 0 or d.as_tuple().exponent < -2 and d != d.quantize(Decimal("0.01")):
        raise InvalidAmountError(str(d))
    return d


class Ledger:
    def __init__(self, chart, currency="USD"):
        self.chart, self.currency = chart, currency
        self.journal = []
        self.reversed_ids = set()

    def post(self, date, description, lines, currency=None, _reverses=None):
        if (currency or self.currency) != self.currency:
            raise CurrencyMismatchError(currency)
        clean = tuple(Line(self.chart.get(l.account).code, Side(l.side), _money(l.amount)) for l in lines)
        sides = {Side.DEBIT: Decimal(0), Side.CREDIT: Decimal(0)}
        for l in clean:
            sides[l.side] += l.amount
        if not clean or sides[Side.DEBIT] != sides[Side.CREDIT]:
            raise UnbalancedEntryError("entry does not balance")
        e = JournalEntry(len(self.journal) + 1, date, description, self.currency, clean, _reverses)
        self.journal.append(e)
        return e

    def entry(self, n):
        if not isinstance(n, int) or not 1 <= n <= len(self.journal):
            raise UnknownEntryError(n)
        return self.journal[n - 1]

    def entries(self):
        return list(self.journal)

    def reverse(self, n, date=None, description=None):
        e = self.entry(n)
        if e.reverses is not None or n in self.reversed_ids:
            raise ReversalError(n)
        when = date or e.date
        if when < e.date:
            raise ReversalError("too early")
        flipped = [Line(l.account, l.side.opposite, l.amount) for l in e.lines]
        r = self.post(when, description or f"Reversal of entry {n}", flipped, _reverses=n)
        self.reversed_ids.add(n)
        return r

    def _net(self, code, lo=None, hi=None):
        total = Decimal(0)
        for e in self.journal:
            if (lo and e.date < lo) or (hi and e.date > hi):
                continue
            total += sum([l.amount if l.side == Side.DEBIT else -l.amount for l in e.lines if l.account == code], Decimal(0))
        return total

    def balance(self, account, as_of=None):
        sign = 1 if self.chart.get(account).type.normal_side == Side.DEBIT else -1
        return sign * self._net(account, hi=as_of)

    def _sum(self, kind, lo=None, hi=None):
        out = Decimal(0)
        for acc in self.chart:
            if acc.type == kind:
                sign = 1 if kind.normal_side == Side.DEBIT else -1
                out += sign * self._net(acc.code, lo, hi)
        return out

    def trial_balance(self, as_of=None):
        rows = []
        for acc in self.chart:
            n = self._net(acc.code, hi=as_of)
            if n:
                rows.append(TrialBalanceRow(acc.code, acc.name, max(n, Decimal(0)), max(-n, Decimal(0))))
        return TrialBalance(tuple(rows), sum([r.debit for r in rows], Decimal(0)), sum([r.credit for r in rows], Decimal(0)))

    def income_statement(self, start=None, end=None):
        return IncomeStatement(self._sum(AccountType.INCOME, start, end), self._sum(AccountType.EXPENSE, start, end))

    def balance_sheet(self, as_of=None):
        earned = self.income_statement(end=as_of).net_income
        return BalanceSheet(
            self._sum(AccountType.ASSET, hi=as_of),
            self._sum(AccountType.LIABILITY, hi=as_of),
            self._sum(AccountType.EQUITY, hi=as_of) + earned,
            earned,
        )
