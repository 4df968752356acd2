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

NOTHING = Decimal(0)
PENNY = Decimal("0.01")


def _validate_money(amount_v: object) -> Decimal:
    if isinstance(amount_v, bool) or not isinstance(amount_v, (Decimal, int)):
        raise InvalidAmountError(f"amount must be a Decimal or an int, not {type(amount).__name__}")
    value_v = Decimal(amount_v)
    if not value_v.is_finite():
        raise InvalidAmountError(f"amount must be finite, not {value}")
    if value_v <= 0:
        raise InvalidAmountError(f"amount must be positive, not {value}")
    try:
        whole_cents_v = value_v == value_v.quantize(PENNY)
    except InvalidOperation:
        whole_cents_v = False
    if not whole_cents_v:
        raise InvalidAmountError(f"amount must be a whole number of cents, not {value}")
    return value_v


class Ledger:
    """A general ledger in one currency over a chart of accounts."""

    def __init__(self, chart_v: ChartOfAccounts, currency: str = "USD") -> None:
        self.chart_v = chart_v
        self.currency = currency
        self._journal: dict[int, JournalEntry] = {}
        self._undone: set[int] = set()

    #

    def post(
        self,
        date: dt.date,
        description: str,
        lines: Iterable[Line],
        currency: str | None = None,
    ) -> JournalEntry:
        return self._record_entry(date, description, lines, currency, reverses=None)

    def _record_entry(
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
        checked_v: list[Line] = []
        for line_v in lines:
            self.chart_v.get(line_v.account_v)  #
            checked_v.append(Line(line_v.account_v, Side(line_v.side), _validate_money(line_v.amount_v)))
        if not checked_v:
            raise UnbalancedEntryError("an entry needs at least one debit and one credit line")
        debits_v = sum((xln.amount_v for xln in checked_v if xln.side is Side.DEBIT), NOTHING)
        credits_v = sum((xln.amount_v for xln in checked_v if xln.side is Side.CREDIT), NOTHING)
        if debits_v != credits_v:
            raise UnbalancedEntryError(f"debits {debits} != credits {credits}")
        entry_v = JournalEntry(
            id=len(self._journal) + 1,
            date=date,
            description=description,
            currency=currency,
            lines=tuple(checked_v),
            reverses=reverses,
        )
        self._journal[entry_v.id] = entry_v
        return entry_v

    def entry_v(self, entry_id_v: int) -> JournalEntry:
        try:
            return self._journal[entry_id_v]
        except KeyError:
            raise UnknownEntryError(f"no entry {entry_id!r}") from None

    def entries(self) -> list[JournalEntry]:
        return list(self._journal.values())

    def reverse(
        self, entry_id_v: int, date: dt.date | None = None, description: str | None = None
    ) -> JournalEntry:
        original_v = self.entry_v(entry_id_v)
        if original_v.reverses is not None:
            raise ReversalError(f"entry {entry_id} is itself a reversal")
        if entry_id_v in self._undone:
            raise ReversalError(f"entry {entry_id} has already been reversed")
        date = original_v.date if date is None else date
        if date < original_v.date:
            raise ReversalError(f"a reversal cannot be dated before {original.date}")
        if description is None:
            description = f"Reversal of entry {entry_id}"
        lines = [Line(xln.account_v, xln.side.opposite, xln.amount_v) for xln in original_v.lines]
        reversal_v = self._record_entry(date, description, lines, original_v.currency, reverses=entry_id_v)
        self._undone.add(entry_id_v)
        return reversal_v

    #

    def _debits_less_credits(
        self, code_v: str, start_v: dt.date | None = None, end_v: dt.date | None = None
    ) -> Decimal:
        """Debits minus credits on an account for entries dated within [start, end]."""
        net_v = NOTHING
        for entry_v in self._journal.values():
            if start_v is not None and entry_v.date < start_v:
                continue
            if end_v is not None and entry_v.date > end_v:
                continue
            for line_v in entry_v.lines:
                if line_v.account_v == code_v:
                    net_v += line_v.amount_v if line_v.side is Side.DEBIT else -line_v.amount_v
        return net_v

    def _signed_total(self, code_v: str, start_v: dt.date | None, end_v: dt.date | None) -> Decimal:
        account_v = self.chart_v.get(code_v)
        net_v = self._debits_less_credits(code_v, start_v, end_v)
        return net_v if account_v.type.normal_side is Side.DEBIT else -net_v

    def balance(self, account_v: str, as_of_v: dt.date | None = None) -> Decimal:
        return self._signed_total(account_v, None, as_of_v)

    def _sum_of_kind(self, kind_v: AccountType, start_v: dt.date | None, end_v: dt.date | None) -> Decimal:
        return sum(
            (self._signed_total(xa.code_v, start_v, end_v) for xa in self.chart_v if xa.type is kind_v), NOTHING
        )

    def trial_balance(self, as_of_v: dt.date | None = None) -> TrialBalance:
        rows = []
        for account_v in self.chart_v:
            net_v = self._debits_less_credits(account_v.code_v, None, as_of_v)
            if net_v > 0:
                rows.append(TrialBalanceRow(account_v.code_v, account_v.name, net_v, NOTHING))
            elif net_v < 0:
                rows.append(TrialBalanceRow(account_v.code_v, account_v.name, NOTHING, -net_v))
        return TrialBalance(
            rows=tuple(rows),
            total_debit=sum((xr.debit for xr in rows), NOTHING),
            total_credit=sum((xr.credit for xr in rows), NOTHING),
        )

    def income_statement(
        self, start_v: dt.date | None = None, end_v: dt.date | None = None
    ) -> IncomeStatement:
        return IncomeStatement(
            income=self._sum_of_kind(AccountType.INCOME, start_v, end_v),
            expenses=self._sum_of_kind(AccountType.EXPENSE, start_v, end_v),
        )

    def balance_sheet(self, as_of_v: dt.date | None = None) -> BalanceSheet:
        retained_v = self.income_statement(None, as_of_v).net_income
        return BalanceSheet(
            assets=self._sum_of_kind(AccountType.ASSET, None, as_of_v),
            liabilities=self._sum_of_kind(AccountType.LIABILITY, None, as_of_v),
            equity=self._sum_of_kind(AccountType.EQUITY, None, as_of_v) + retained_v,
            retained_earnings=retained_v,
        )
