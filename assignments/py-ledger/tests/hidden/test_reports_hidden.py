"""Reports: dates, periods and balances on the unusual side."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import AccountType, ChartOfAccounts, Ledger, TrialBalanceRow, credit, debit

D = Decimal


@pytest.fixture
def books():
    """The same two months as the visible tests."""
    chart = ChartOfAccounts()
    chart.add("5000", "Rent", AccountType.EXPENSE)
    chart.add("4000", "Sales", AccountType.INCOME)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("2000", "Bank loan", AccountType.LIABILITY)
    chart.add("1500", "Equipment", AccountType.ASSET)
    chart.add("1100", "Accounts receivable", AccountType.ASSET)
    chart.add("1000", "Cash", AccountType.ASSET)
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


def test_trial_balance_contra_balance_in_credit_column():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("5000", "Rent", AccountType.EXPENSE)
    ledger = Ledger(chart, currency="USD")
    ledger.post(date(2024, 1, 2), "Owner invests", [debit("1000", D("100.00")), credit("3000", D("100.00"))])
    ledger.post(date(2024, 1, 31), "Rent, overdrawn", [debit("5000", D("150.00")), credit("1000", D("150.00"))])
    tb = ledger.trial_balance()
    assert tb.rows == (
        TrialBalanceRow("1000", "Cash", D("0"), D("50.00")),
        TrialBalanceRow("3000", "Owner's capital", D("0"), D("100.00")),
        TrialBalanceRow("5000", "Rent", D("150.00"), D("0")),
    )
    assert tb.total_debit == tb.total_credit == D("150.00")
    assert tb.is_balanced


def test_trial_balance_omits_zero_and_sorts_by_code(books):
    assert [row.code for row in books.trial_balance().rows] == ["1000", "1100", "2000", "3000", "4000", "5000"]
    books.post(date(2024, 3, 1), "Customer pays the rest", [debit("1000", D("2000.00")), credit("1100", D("2000.00"))])
    assert [row.code for row in books.trial_balance().rows] == ["1000", "2000", "3000", "4000", "5000"]


def test_trial_balance_as_of(books):
    tb = books.trial_balance(as_of=date(2024, 1, 31))
    rows = {row.code: (row.debit, row.credit) for row in tb.rows}
    assert rows == {
        "1000": (D("14500.00"), D("0")),
        "1100": (D("3000.00"), D("0")),
        "2000": (D("0"), D("5000.00")),
        "3000": (D("0"), D("10000.00")),
        "4000": (D("0"), D("4500.00")),
        "5000": (D("2000.00"), D("0")),
    }
    assert tb.total_debit == tb.total_credit == D("19500.00")


def test_income_statement_period_bounds(books):
    february = books.income_statement(start=date(2024, 2, 1), end=date(2024, 2, 29))
    assert (february.income, february.expenses, february.net_income) == (D("800.00"), D("2000.00"), D("-1200.00"))
    inclusive = books.income_statement(start=date(2024, 1, 10), end=date(2024, 1, 20))
    assert (inclusive.income, inclusive.expenses) == (D("4500.00"), D("0"))
    to_january = books.income_statement(end=date(2024, 1, 31))
    assert to_january.net_income == D("2500.00")
    from_february = books.income_statement(start=date(2024, 2, 1))
    assert from_february.net_income == D("-1200.00")


def test_balance_sheet_as_of(books):
    sheet = books.balance_sheet(as_of=date(2024, 1, 31))
    assert sheet.assets == D("17500.00")
    assert sheet.liabilities == D("5000.00")
    assert sheet.retained_earnings == D("2500.00")
    assert sheet.equity == D("12500.00")
    assert sheet.is_balanced


def test_report_amounts_are_decimal(books):
    tb = books.trial_balance()
    statement = books.income_statement()
    sheet = books.balance_sheet()
    amounts = [tb.total_debit, tb.total_credit, statement.income, statement.expenses, statement.net_income,
               sheet.assets, sheet.liabilities, sheet.equity, sheet.retained_earnings]
    amounts += [row.debit for row in tb.rows] + [row.credit for row in tb.rows]
    assert all(isinstance(amount, Decimal) for amount in amounts)
