"""Reversals and balances as of a date."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import AccountType, ChartOfAccounts, Ledger, credit, debit

D = Decimal


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("4000", "Sales", AccountType.INCOME)
    return Ledger(chart, currency="USD")


def test_reverse_entry_zeroes_balances(ledger):
    ledger.post(date(2024, 1, 15), "Cash sale", [debit("1000", D("250.00")), credit("4000", D("250.00"))])
    reversal = ledger.reverse(1)
    assert reversal.id == 2
    assert reversal.reverses == 1
    assert reversal.lines == (credit("1000", D("250.00")), debit("4000", D("250.00")))
    assert ledger.balance("1000") == 0
    assert ledger.balance("4000") == 0
    assert len(ledger.entries()) == 2


def test_balance_as_of_date(ledger):
    ledger.post(date(2024, 1, 10), "Owner invests", [debit("1000", D("1000.00")), credit("3000", D("1000.00"))])
    ledger.post(date(2024, 2, 10), "Cash sale", [debit("1000", D("200.00")), credit("4000", D("200.00"))])
    assert ledger.balance("1000", as_of=date(2024, 1, 9)) == 0
    assert ledger.balance("1000", as_of=date(2024, 1, 31)) == D("1000.00")
    assert ledger.balance("1000", as_of=date(2024, 2, 10)) == D("1200.00")
    assert ledger.balance("1000") == D("1200.00")
