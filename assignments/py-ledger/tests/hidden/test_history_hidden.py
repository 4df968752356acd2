"""Reversals and balances as of a date: the edge cases."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import AccountType, ChartOfAccounts, Ledger, ReversalError, UnknownEntryError, credit, debit

D = Decimal
JAN_15 = date(2024, 1, 15)


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("4000", "Sales", AccountType.INCOME)
    ledger = Ledger(chart, currency="USD")
    ledger.post(JAN_15, "Cash sale", [debit("1000", D("250.00")), credit("4000", D("250.00"))])
    return ledger


def test_as_of_ignores_posting_order(ledger):
    ledger.post(date(2024, 3, 1), "March sale", [debit("1000", D("40.00")), credit("4000", D("40.00"))])
    ledger.post(date(2024, 1, 20), "Late-booked January sale", [debit("1000", D("5.00")), credit("4000", D("5.00"))])
    assert ledger.balance("1000", as_of=date(2024, 2, 1)) == D("255.00")
    assert ledger.balance("4000", as_of=date(2024, 1, 19)) == D("250.00")
    assert ledger.balance("4000") == D("295.00")


def test_reversal_defaults(ledger):
    reversal = ledger.reverse(1)
    assert reversal.date == JAN_15
    assert reversal.description == "Reversal of entry 1"
    assert reversal.currency == "USD"
    assert ledger.entry(2) == reversal


def test_dated_reversal_respects_as_of(ledger):
    reversal = ledger.reverse(1, date=date(2024, 2, 1), description="Refund")
    assert reversal.date == date(2024, 2, 1)
    assert reversal.description == "Refund"
    assert ledger.balance("4000", as_of=date(2024, 1, 31)) == D("250.00")
    assert ledger.balance("4000", as_of=date(2024, 2, 1)) == 0


def test_reverse_twice_refused(ledger):
    ledger.reverse(1)
    with pytest.raises(ReversalError):
        ledger.reverse(1)
    assert ledger.balance("1000") == 0
    assert len(ledger.entries()) == 2


def test_reversing_a_reversal_refused(ledger):
    reversal = ledger.reverse(1)
    with pytest.raises(ReversalError):
        ledger.reverse(reversal.id)
    assert ledger.balance("4000") == 0
    assert len(ledger.entries()) == 2


def test_reversal_before_original_date_refused(ledger):
    with pytest.raises(ReversalError):
        ledger.reverse(1, date=date(2024, 1, 14))
    assert ledger.balance("1000") == D("250.00")
    assert len(ledger.entries()) == 1
    assert ledger.reverse(1, date=date(2024, 1, 15)).reverses == 1


def test_unknown_entry_refused(ledger):
    with pytest.raises(UnknownEntryError):
        ledger.reverse(42)
    with pytest.raises(UnknownEntryError):
        ledger.entry(42)
