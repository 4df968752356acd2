"""Everything in one module. Amounts are kept as floats, which is simpler."""

from dataclasses import dataclass
from enum import Enum


class LedgerError(Exception):
    pass


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
    DEBIT = "debit"
    CREDIT = "credit"


class AccountType(Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self):
        if self is AccountType.ASSET or self is AccountType.EXPENSE:
            return Side.DEBIT
        return Side.CREDIT


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: AccountType


class ChartOfAccounts:
    def __init__(self):
        self.accounts = {}

    def add(self, code, name, type):
        account = Account(code, name, AccountType(type))
        self.accounts[code] = account
        return account

    def get(self, code):
        if code not in self.accounts:
            raise UnknownAccountError(code)
        return self.accounts[code]

    def __contains__(self, code):
        return code in self.accounts

    def __len__(self):
        return len(self.accounts)

    def __iter__(self):
        return iter(self.accounts.values())


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: float


def debit(account, amount):
    return Line(account, Side.DEBIT, amount)


def credit(account, amount):
    return Line(account, Side.CREDIT, amount)


@dataclass
class JournalEntry:
    id: int
    date: object
    description: str
    currency: str
    lines: tuple
    reverses: object = None

    @property
    def total(self):
        return sum(float(line.amount) for line in self.lines if line.side is Side.DEBIT)


@dataclass
class TrialBalanceRow:
    code: str
    name: str
    debit: float
    credit: float


@dataclass
class TrialBalance:
    rows: tuple
    total_debit: float
    total_credit: float

    @property
    def is_balanced(self):
        return abs(self.total_debit - self.total_credit) < 0.001


@dataclass
class IncomeStatement:
    income: float
    expenses: float

    @property
    def net_income(self):
        return self.income - self.expenses


@dataclass
class BalanceSheet:
    assets: float
    liabilities: float
    equity: float
    retained_earnings: float = 0.0

    @property
    def is_balanced(self):
        return abs(self.assets - self.liabilities - self.equity) < 0.001


class Ledger:
    def __init__(self, chart, currency="USD"):
        self.chart = chart
        self.currency = currency
        self.journal = []

    def post(self, date, description, lines, currency=None):
        for line in lines:
            self.chart.get(line.account)
        entry = JournalEntry(len(self.journal) + 1, date, description, currency or self.currency, tuple(lines))
        self.journal.append(entry)
        return entry

    def entry(self, entry_id):
        return self.journal[entry_id - 1]

    def entries(self):
        return list(self.journal)

    def reverse(self, entry_id, date=None, description=None):
        original = self.entry(entry_id)
        flipped = [Line(l.account, Side.CREDIT if l.side is Side.DEBIT else Side.DEBIT, l.amount)
                   for l in original.lines]
        entry = self.post(date or original.date, description or "Reversal of entry %d" % entry_id, flipped)
        entry.reverses = entry_id
        return entry

    def balance(self, account, as_of=None):
        self.chart.get(account)
        total = 0.0
        for entry in self.journal:
            if as_of is not None and entry.date > as_of:
                continue
            for line in entry.lines:
                if line.account == account:
                    if line.side is Side.DEBIT:
                        total += float(line.amount)
                    else:
                        total -= float(line.amount)
        return total

    def trial_balance(self, as_of=None):
        rows = []
        for account in self.chart:
            amount = self.balance(account.code, as_of)
            if amount > 0:
                rows.append(TrialBalanceRow(account.code, account.name, amount, 0.0))
            elif amount < 0:
                rows.append(TrialBalanceRow(account.code, account.name, 0.0, -amount))
        return TrialBalance(tuple(rows), sum(r.debit for r in rows), sum(r.credit for r in rows))

    def _total(self, kind, as_of=None):
        return sum(self.balance(a.code, as_of) for a in self.chart if a.type is kind)

    def income_statement(self, start=None, end=None):
        return IncomeStatement(-self._total(AccountType.INCOME, end), self._total(AccountType.EXPENSE, end))

    def balance_sheet(self, as_of=None):
        return BalanceSheet(
            self._total(AccountType.ASSET, as_of),
            -self._total(AccountType.LIABILITY, as_of),
            -self._total(AccountType.EQUITY, as_of),
        )
