"""Accounts, posting and balances."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import Account, AccountType, ChartOfAccounts, JournalEntry, Ledger, credit, debit

D = Decimal
DAY = date(2024, 1, 15)


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("2000", "Bank loan", AccountType.LIABILITY)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("4000", "Sales", AccountType.INCOME)
    chart.add("5000", "Rent", AccountType.EXPENSE)
    return Ledger(chart, currency="USD")


def test_chart_add_get_and_contains():
    chart = ChartOfAccounts()
    cash = chart.add("1000", "Cash", AccountType.ASSET)
    assert cash == Account("1000", "Cash", AccountType.ASSET)
    assert chart.get("1000") == cash
    assert "1000" in chart
    assert "9999" not in chart
    assert len(chart) == 1


def test_post_returns_entry_with_sequential_ids(ledger):
    e1 = ledger.post(DAY, "Owner invests", [debit("1000", D("1000.00")), credit("3000", D("1000.00"))])
    e2 = ledger.post(DAY, "Cash sale", [debit("1000", D("250.00")), credit("4000", D("250.00"))])
    assert isinstance(e1, JournalEntry)
    assert (e1.id, e2.id) == (1, 2)
    assert e1.date == DAY
    assert e1.description == "Owner invests"
    assert e1.currency == "USD"
    assert e1.lines == (debit("1000", D("1000.00")), credit("3000", D("1000.00")))
    assert e1.reverses is None
    assert ledger.entry(2) == e2
    assert ledger.entries() == [e1, e2]


def test_balances_follow_normal_side(ledger):
    ledger.post(DAY, "Borrow", [debit("1000", D("500.00")), credit("2000", D("500.00"))])
    ledger.post(DAY, "Pay rent", [debit("5000", D("120.00")), credit("1000", D("120.00"))])
    assert ledger.balance("1000") == D("380.00")
    assert ledger.balance("2000") == D("500.00")
    assert ledger.balance("5000") == D("120.00")


def test_balance_is_exact_decimal(ledger):
    for _ in range(10):
        ledger.post(DAY, "Sell a sweet", [debit("1000", D("0.10")), credit("4000", D("0.10"))])
    balance = ledger.balance("1000")
    assert isinstance(balance, Decimal)
    assert balance == D("1.00")
    assert ledger.balance("4000") == D("1.00")
