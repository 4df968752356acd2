from collections import defaultdict
from decimal import Decimal, InvalidOperation

from .chart import AccountType, Side
from .errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    ReversalError,
    UnbalancedEntryError,
    UnknownEntryError,
)
from .journal import JournalEntry, Line
from .statements import BalanceSheet, IncomeStatement, TrialBalance, TrialBalanceRow

CENTS = Decimal("1.00")


def validated(amount):
    """Accept Decimal or int (never bool or float), finite, positive, at most two decimals."""
    if amount is True or amount is False or not isinstance(amount, (int, Decimal)):
        raise InvalidAmountError(f"bad amount type {type(amount).__name__}")
    amount = Decimal(amount)
    try:
        ok = amount.is_finite() and amount > 0 and amount.quantize(CENTS) == amount
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidAmountError(f"bad amount {amount}")
    return amount


class Ledger:
    def __init__(self, chart, currency="USD"):
        self.chart = chart
        self.currency = currency
        self._journal = {}
        self._next_id = 1
        self._reversal_of = {}

    def _record(self, when, text, lines, currency, reverses=None):
        if currency is not None and currency != self.currency:
            raise CurrencyMismatchError(f"{currency} != {self.currency}")
        normalised = []
        per_side = defaultdict(Decimal)
        for line in lines:
            self.chart.get(line.account)
            side = Side(line.side)
            amount = validated(line.amount)
            per_side[side] += amount
            normalised.append(Line(line.account, side, amount))
        if len(normalised) == 0 or per_side[Side.DEBIT] != per_side[Side.CREDIT]:
            raise UnbalancedEntryError("debits and credits differ")
        entry = JournalEntry(self._next_id, when, text, self.currency, tuple(normalised), reverses)
        self._journal[entry.id] = entry
        self._next_id += 1
        return entry

    def post(self, date, description, lines, currency=None):
        return self._record(date, description, list(lines), currency)

    def entry(self, entry_id):
        if entry_id not in self._journal:
            raise UnknownEntryError(f"entry {entry_id} was never posted")
        return self._journal[entry_id]

    def entries(self):
        return sorted(self._journal.values(), key=lambda e: e.id)

    def reverse(self, entry_id, date=None, description=None):
        original = self.entry(entry_id)
        if original.reverses is not None:
            raise ReversalError("a reversal cannot be reversed")
        if entry_id in self._reversal_of:
            raise ReversalError("already reversed")
        when = original.date if date is None else date
        if when < original.date:
            raise ReversalError("reversal dated before the original")
        mirrored = [Line(l.account, l.side.opposite, l.amount) for l in original.lines]
        text = description if description is not None else f"Reversal of entry {entry_id}"
        rev = self._record(when, text, mirrored, original.currency, reverses=entry_id)
        self._reversal_of[entry_id] = rev.id
        return rev

    def _movements(self, start=None, end=None):
        totals = defaultdict(Decimal)
        for entry in self._journal.values():
            if start is not None and entry.date < start:
                continue
            if end is not None and entry.date > end:
                continue
            for line in entry.lines:
                totals[line.account] += line.signed()
        return totals

    def balance(self, account, as_of=None):
        acct = self.chart.get(account)
        net = self._movements(end=as_of)[account]
        return net if acct.type.normal_side == Side.DEBIT else -net

    def trial_balance(self, as_of=None):
        moves = self._movements(end=as_of)
        rows = tuple(
            TrialBalanceRow(a.code, a.name, moves[a.code] if moves[a.code] > 0 else Decimal(0),
                            -moves[a.code] if moves[a.code] < 0 else Decimal(0))
            for a in self.chart if moves[a.code]
        )
        return TrialBalance(rows, sum((r.debit for r in rows), Decimal(0)), sum((r.credit for r in rows), Decimal(0)))

    def _kind_total(self, kind, moves):
        sign = 1 if kind.normal_side == Side.DEBIT else -1
        return sum((sign * moves[a.code] for a in self.chart.of_type(kind)), Decimal(0))

    def income_statement(self, start=None, end=None):
        moves = self._movements(start, end)
        return IncomeStatement(self._kind_total(AccountType.INCOME, moves), self._kind_total(AccountType.EXPENSE, moves))

    def balance_sheet(self, as_of=None):
        moves = self._movements(end=as_of)
        retained = self._kind_total(AccountType.INCOME, moves) - self._kind_total(AccountType.EXPENSE, moves)
        equity = self._kind_total(AccountType.EQUITY, moves) + retained
        return BalanceSheet(
            self._kind_total(AccountType.ASSET, moves), self._kind_total(AccountType.LIABILITY, moves), equity, retained
        )
