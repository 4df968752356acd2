"""The Ledger: posts journal entries and answers questions about them."""


from __future__ import annotations


import datetime as dt


from collections.abc import Iterable


from decimal import Decimal, InvalidOperation


from .accounts import AccountType, ChartOfAccounts, Side


from .entries import JournalEntry, Line


from .errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    ReversalError,
    UnbalancedEntryError,
    UnknownEntryError,
)


from .reports import BalanceSheet, IncomeStatement, TrialBalance, TrialBalanceRow


ZERO = Decimal(0)


CENT = Decimal("0.01")


class Ledger:
    """A general ledger in one currency over a chart of accounts."""

    def balance_sheet(self, as_of: dt.date | None = None) -> BalanceSheet:
        retained = self.income_statement(None, as_of).net_income
        return BalanceSheet(
            assets=self._total(AccountType.ASSET, None, as_of),
            liabilities=self._total(AccountType.LIABILITY, None, as_of),
            equity=self._total(AccountType.EQUITY, None, as_of) + retained,
            retained_earnings=retained,
        )

    def income_statement(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> IncomeStatement:
        return IncomeStatement(
            income=self._total(AccountType.INCOME, start, end),
            expenses=self._total(AccountType.EXPENSE, start, end),
        )

    def trial_balance(self, as_of: dt.date | None = None) -> TrialBalance:
        rows = []
        for account in self.chart:
            net = self._net_debits(account.code, None, as_of)
            if net > 0:
                rows.append(TrialBalanceRow(account.code, account.name, net, ZERO))
            elif net < 0:
                rows.append(TrialBalanceRow(account.code, account.name, ZERO, -net))
        return TrialBalance(
            rows=tuple(rows),
            total_debit=sum((r.debit for r in rows), ZERO),
            total_credit=sum((r.credit for r in rows), ZERO),
        )

    def _total(self, kind: AccountType, start: dt.date | None, end: dt.date | None) -> Decimal:
        return sum(
            (self._balance(a.code, start, end) for a in self.chart if a.type is kind), ZERO
        )

    def balance(self, account: str, as_of: dt.date | None = None) -> Decimal:
        return self._balance(account, None, as_of)

    def _balance(self, code: str, start: dt.date | None, end: dt.date | None) -> Decimal:
        account = self.chart.get(code)
        net = self._net_debits(code, start, end)
        return net if account.type.normal_side is Side.DEBIT else -net

    def _net_debits(
        self, code: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> Decimal:
        """Debits minus credits on an account for entries dated within [start, end]."""
        net = ZERO
        for entry in self._entries.values():
            if start is not None and entry.date < start:
                continue
            if end is not None and entry.date > end:
                continue
            for line in entry.lines:
                if line.account == code:
                    net += line.amount if line.side is Side.DEBIT else -line.amount
        return net

    def reverse(
        self, entry_id: int, date: dt.date | None = None, description: str | None = None
    ) -> JournalEntry:
        original = self.entry(entry_id)
        if original.reverses is not None:
            raise ReversalError(f"entry {entry_id} is itself a reversal")
        if entry_id in self._reversed:
            raise ReversalError(f"entry {entry_id} has already been reversed")
        date = original.date if date is None else date
        if date < original.date:
            raise ReversalError(f"a reversal cannot be dated before {original.date}")
        if description is None:
            description = f"Reversal of entry {entry_id}"
        lines = [Line(ln.account, ln.side.opposite, ln.amount) for ln in original.lines]
        reversal = self._post(date, description, lines, original.currency, reverses=entry_id)
        self._reversed.add(entry_id)
        return reversal

    def entries(self) -> list[JournalEntry]:
        return list(self._entries.values())

    def entry(self, entry_id: int) -> JournalEntry:
        try:
            return self._entries[entry_id]
        except KeyError:
            raise UnknownEntryError(f"no entry {entry_id!r}") from None

    def _post(
        self,
        date: dt.date,
        description: str,
        lines: Iterable[Line],
        currency: str | None,
        reverses: int | None,
    ) -> JournalEntry:
        currency = self.currency if currency is None else currency
        if currency != self.currency:
            raise CurrencyMismatchError(f"entry is in {currency}, the ledger is in {self.currency}")
        checked: list[Line] = []
        for line in lines:
            self.chart.get(line.account)  # raises UnknownAccountError
            checked.append(Line(line.account, Side(line.side), _check_amount(line.amount)))
        if not checked:
            raise UnbalancedEntryError("an entry needs at least one debit and one credit line")
        debits = sum((ln.amount for ln in checked if ln.side is Side.DEBIT), ZERO)
        credits = sum((ln.amount for ln in checked if ln.side is Side.CREDIT), ZERO)
        if debits != credits:
            raise UnbalancedEntryError(f"debits {debits} != credits {credits}")
        entry = JournalEntry(
            id=len(self._entries) + 1,
            date=date,
            description=description,
            currency=currency,
            lines=tuple(checked),
            reverses=reverses,
        )
        self._entries[entry.id] = entry
        return entry

    def post(
        self,
        date: dt.date,
        description: str,
        lines: Iterable[Line],
        currency: str | None = None,
    ) -> JournalEntry:
        return self._post(date, description, lines, currency, reverses=None)

    def __init__(self, chart: ChartOfAccounts, currency: str = "USD") -> None:
        self.chart = chart
        self.currency = currency
        self._entries: dict[int, JournalEntry] = {}
        self._reversed: set[int] = set()


def _check_amount(amount: object) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise InvalidAmountError(f"amount must be a Decimal or an int, not {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise InvalidAmountError(f"amount must be finite, not {value}")
    if value <= 0:
        raise InvalidAmountError(f"amount must be positive, not {value}")
    try:
        whole_cents = value == value.quantize(CENT)
    except InvalidOperation:
        whole_cents = False
    if not whole_cents:
        raise InvalidAmountError(f"amount must be a whole number of cents, not {value}")
    return value
