import functools
import operator
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum


class LedgerError(Exception):
    """Root of the ledger's errors."""

    def __str__(self):
        return " ".join(str(a) for a in self.args) or type(self).__name__


class DuplicateAccountError(LedgerError):
    pass


class UnknownAccountError(LedgerError):
    pass


class InvalidAmountError(LedgerError):
    pass


class UnbalancedEntryError(LedgerError):
    pass


class CurrencyMismatchError(LedgerError):
    pass


class UnknownEntryError(LedgerError):
    pass


class ReversalError(LedgerError):
    pass


class Side(Enum):
    DEBIT = 1
    CREDIT = -1

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, str):
            return cls[value.upper()]
        return None

    @property
    def opposite(self):
        return Side(-self.value)


class AccountType(Enum):
    ASSET = ("asset", Side.DEBIT)
    LIABILITY = ("liability", Side.CREDIT)
    EQUITY = ("equity", Side.CREDIT)
    INCOME = ("income", Side.CREDIT)
    EXPENSE = ("expense", Side.DEBIT)

    @classmethod
    def _missing_(cls, value):
        for member in cls:
            if member.value[0] == value:
                return member
        return None

    @property
    def normal_side(self):
        return self.value[1]


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: AccountType


class ChartOfAccounts:
    def __init__(self):
        self.accounts = []

    def _find(self, code):
        return next((a for a in self.accounts if a.code == code), None)

    def add(self, code, name, type):
        if self._find(code):
            raise DuplicateAccountError("account exists:", code)
        account = Account(code, name, AccountType(type))
        self.accounts.append(account)
        self.accounts.sort(key=operator.attrgetter("code"))
        return account

    def get(self, code):
        found = self._find(code)
        if found is None:
            raise UnknownAccountError("no such account:", code)
        return found

    __contains__ = lambda self, code: self._find(code) is not None  # noqa: E731
    __len__ = lambda self: len(self.accounts)  # noqa: E731
    __iter__ = lambda self: iter(list(self.accounts))  # noqa: E731


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: Decimal


debit = functools.partial(lambda account, amount, side: Line(account, side, amount), side=Side.DEBIT)
credit = functools.partial(lambda account, amount, side: Line(account, side, amount), side=Side.CREDIT)


@dataclass(frozen=True)
class JournalEntry:
    id: int
    date: object
    description: str
    currency: str
    lines: tuple
    reverses: object = None

    @property
    def total(self):
        return functools.reduce(operator.add, (x.amount for x in self.lines if x.side is Side.DEBIT), Decimal(0))


@dataclass(frozen=True)
class TrialBalanceRow:
    code: str
    name: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class TrialBalance:
    rows: tuple
    total_debit: Decimal
    total_credit: Decimal
    is_balanced = property(lambda self: self.total_debit == self.total_credit)


@dataclass(frozen=True)
class IncomeStatement:
    income: Decimal
    expenses: Decimal
    net_income = property(lambda self: self.income - self.expenses)


@dataclass(frozen=True)
class BalanceSheet:
    assets: Decimal
    liabilities: Decimal
    equity: Decimal
    retained_earnings: Decimal
    is_balanced = property(lambda self: self.assets == self.liabilities + self.equity)


def as_amount(raw):
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal)):
        raise InvalidAmountError("amounts are int or Decimal, got", type(raw).__name__)
    value = Decimal(raw)
    if not value.is_finite() or value <= 0:
        raise InvalidAmountError("amount must be finite and positive, got", value)
    if (value * 100) % 1 != 0:
        raise InvalidAmountError("amount has fractions of a cent:", value)
    return value


class Ledger:
    def __init__(self, chart, currency="USD"):
        self.chart = chart
        self.currency = currency
        self.events = []

    def post(self, date, description, lines, currency=None, reverses=None):
        currency = currency or self.currency
        if currency != self.currency:
            raise CurrencyMismatchError("ledger is in", self.currency, "entry in", currency)
        lines = tuple(replace(l, side=Side(l.side), amount=as_amount(l.amount)) for l in lines)
        for l in lines:
            self.chart.get(l.account)
        net = sum((l.amount * l.side.value for l in lines), Decimal(0))
        if not lines or net != 0:
            raise UnbalancedEntryError("entry is off by", net)
        posted = JournalEntry(len(self.events) + 1, date, description, currency, lines, reverses)
        self.events.append(posted)
        return posted

    def entry(self, entry_id):
        for e in self.events:
            if e.id == entry_id:
                return e
        raise UnknownEntryError("no entry", entry_id)

    def entries(self):
        return self.events[:]

    def reverse(self, entry_id, date=None, description=None):
        target = self.entry(entry_id)
        if target.reverses is not None:
            raise ReversalError("entry", entry_id, "is a reversal")
        if any(e.reverses == entry_id for e in self.events):
            raise ReversalError("entry", entry_id, "was reversed already")
        date = date or target.date
        if date < target.date:
            raise ReversalError("reversal before the original entry")
        lines = [replace(l, side=l.side.opposite) for l in target.lines]
        return self.post(date, description or f"Reversal of entry {entry_id}", lines, target.currency, entry_id)

    def _fold(self, start, end):
        """Per account: the sum of signed amounts (debit positive) of entries in [start, end]."""
        sums = {}
        for e in self.events:
            if (start is None or e.date >= start) and (end is None or e.date <= end):
                for l in e.lines:
                    sums[l.account] = sums.get(l.account, Decimal(0)) + l.amount * l.side.value
        return sums

    def balance(self, account, as_of=None):
        kind = self.chart.get(account).type
        return self._fold(None, as_of).get(account, Decimal(0)) * kind.normal_side.value

    def _by_type(self, sums, kind):
        return sum((sums.get(a.code, Decimal(0)) * kind.normal_side.value for a in self.chart if a.type is kind), Decimal(0))

    def trial_balance(self, as_of=None):
        sums = self._fold(None, as_of)
        rows = []
        for a in self.chart:
            amount = sums.get(a.code, Decimal(0))
            if amount:
                rows.append(TrialBalanceRow(a.code, a.name, max(amount, 0), max(-amount, 0)))
        debit_total = sum((r.debit for r in rows), Decimal(0))
        credit_total = sum((r.credit for r in rows), Decimal(0))
        return TrialBalance(tuple(rows), debit_total, credit_total)

    def income_statement(self, start=None, end=None):
        sums = self._fold(start, end)
        return IncomeStatement(self._by_type(sums, AccountType.INCOME), self._by_type(sums, AccountType.EXPENSE))

    def balance_sheet(self, as_of=None):
        sums = self._fold(None, as_of)
        earnings = self._by_type(sums, AccountType.INCOME) - self._by_type(sums, AccountType.EXPENSE)
        return BalanceSheet(
            self._by_type(sums, AccountType.ASSET),
            self._by_type(sums, AccountType.LIABILITY),
            self._by_type(sums, AccountType.EQUITY) + earnings,
            earnings,
        )
