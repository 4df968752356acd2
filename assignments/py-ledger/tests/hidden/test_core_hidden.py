"""Accounts, posting and balances: the cases a quick solution gets wrong."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import AccountType, ChartOfAccounts, Ledger, Side, credit, debit

D = Decimal
DAY = date(2024, 3, 1)


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("1100", "Accounts receivable", AccountType.ASSET)
    chart.add("2000", "Bank loan", AccountType.LIABILITY)
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("4000", "Sales", AccountType.INCOME)
    chart.add("5000", "Rent", AccountType.EXPENSE)
    return Ledger(chart, currency="USD")


@pytest.mark.parametrize(
    ("account_type", "side"),
    [
        (AccountType.ASSET, Side.DEBIT),
        (AccountType.LIABILITY, Side.CREDIT),
        (AccountType.EQUITY, Side.CREDIT),
        (AccountType.INCOME, Side.CREDIT),
        (AccountType.EXPENSE, Side.DEBIT),
    ],
    ids=["asset", "liability", "equity", "income", "expense"],
)
def test_normal_side_per_type(account_type, side):
    assert account_type.normal_side is side
    chart = ChartOfAccounts()
    chart.add("A", "Subject", account_type)
    chart.add("B", "Counterpart", account_type)
    ledger = Ledger(chart, currency="USD")
    normal = debit if side is Side.DEBIT else credit
    contra = credit if side is Side.DEBIT else debit
    ledger.post(DAY, "Move", [normal("A", D("75.00")), contra("B", D("75.00"))])
    assert ledger.balance("A") == D("75.00")
    assert ledger.balance("B") == D("-75.00")


def test_unused_account_balance_is_zero(ledger):
    ledger.post(DAY, "Cash sale", [debit("1000", D("10.00")), credit("4000", D("10.00"))])
    balance = ledger.balance("1100")
    assert isinstance(balance, Decimal)
    assert balance == 0


def test_balances_past_zero_go_negative(ledger):
    ledger.post(DAY, "Borrow", [debit("1000", D("100.00")), credit("2000", D("100.00"))])
    ledger.post(DAY, "Overpay the bank", [debit("2000", D("130.00")), credit("1000", D("130.00"))])
    assert ledger.balance("1000") == D("-30.00")
    assert ledger.balance("2000") == D("-30.00")


def test_compound_entry_with_repeated_account(ledger):
    ledger.post(
        DAY,
        "Two payments for one invoice",
        [debit("1000", D("60.00")), debit("1000", D("40.00")), credit("4000", D("100.00"))],
    )
    assert ledger.balance("1000") == D("100.00")
    assert ledger.balance("4000") == D("100.00")
    assert ledger.entry(1).total == D("100.00")


def test_int_amounts_accepted(ledger):
    entry = ledger.post(DAY, "Round sum", [debit("1000", 100), credit("3000", 100)])
    assert entry.total == D("100")
    balance = ledger.balance("3000")
    assert isinstance(balance, Decimal)
    assert balance == D("100")


def test_ledger_keeps_its_own_copy_of_lines(ledger):
    lines = [debit("1000", D("50.00")), credit("4000", D("50.00"))]
    entry = ledger.post(DAY, "Cash sale", lines)
    lines[0] = debit("1000", D("999.00"))
    lines.append(credit("4000", D("1.00")))
    assert isinstance(entry.lines, tuple)
    assert entry.lines == (debit("1000", D("50.00")), credit("4000", D("50.00")))
    assert ledger.balance("1000") == D("50.00")
    assert ledger.balance("4000") == D("50.00")


def test_chart_iterates_in_code_order():
    chart = ChartOfAccounts()
    chart.add("3000", "Owner's capital", AccountType.EQUITY)
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("2000", "Bank loan", "liability")
    assert [account.code for account in chart] == ["1000", "2000", "3000"]
    assert chart.get("2000").type is AccountType.LIABILITY
