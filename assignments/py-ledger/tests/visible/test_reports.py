"""Trial balance, income statement and balance sheet."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import AccountType, ChartOfAccounts, Ledger, TrialBalanceRow, credit, debit

D = Decimal


@pytest.fixture
def books():
    """A small business's first two months."""
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("1100", "Accounts receivable", AccountType.ASSET)
    chart.add("1500", "Equipment", AccountType.ASSET)
    chart.add("2000", "Bank loan", AccountType.LIABILITY)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("4000", "Sales", AccountType.INCOME)
    chart.add("5000", "Rent", AccountType.EXPENSE)
    ledger = Ledger(chart, currency="USD")
    ledger.post(date(2024, 1, 2), "Owner invests", [debit("1000", D("10000.00")), credit("3000", D("10000.00"))])
    ledger.post(date(2024, 1, 5), "Bank loan", [debit("1000", D("5000.00")), credit("2000", D("5000.00"))])
    ledger.post(date(2024, 1, 10), "Sale on credit", [debit("1100", D("3000.00")), credit("4000", D("3000.00"))])
    ledger.post(date(2024, 1, 20), "Cash sale", [debit("1000", D("1500.00")), credit("4000", D("1500.00"))])
    ledger.post(date(2024, 1, 31), "January rent", [debit("5000", D("2000.00")), credit("1000", D("2000.00"))])
    ledger.post(date(2024, 2, 5), "Customer pays", [debit("1000", D("1000.00")), credit("1100", D("1000.00"))])
    ledger.post(date(2024, 2, 10), "Cash sale", [debit("1000", D("800.00")), credit("4000", D("800.00"))])
    ledger.post(date(2024, 2, 29), "February rent", [debit("5000", D("2000.00")), credit("1000", D("2000.00"))])
    return ledger


def test_trial_balance_totals_match(books):
    tb = books.trial_balance()
    assert tb.total_debit == D("20300.00")
    assert tb.total_credit == D("20300.00")
    assert tb.is_balanced
    rows = {row.code: row for row in tb.rows}
    assert rows["1000"] == TrialBalanceRow("1000", "Cash", D("14300.00"), D("0"))
    assert rows["2000"] == TrialBalanceRow("2000", "Bank loan", D("0"), D("5000.00"))
    assert rows["4000"] == TrialBalanceRow("4000", "Sales", D("0"), D("5300.00"))


def test_income_statement_net_income(books):
    statement = books.income_statement()
    assert statement.income == D("5300.00")
    assert statement.expenses == D("4000.00")
    assert statement.net_income == D("1300.00")


def test_balance_sheet_balances(books):
    sheet = books.balance_sheet()
    assert sheet.assets == D("16300.00")
    assert sheet.liabilities == D("5000.00")
    assert sheet.retained_earnings == D("1300.00")
    assert sheet.equity == D("11300.00")
    assert sheet.is_balanced
