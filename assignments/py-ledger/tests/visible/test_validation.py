"""Entries the ledger must refuse."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import (
    AccountType,
    ChartOfAccounts,
    CurrencyMismatchError,
    InvalidAmountError,
    Ledger,
    UnbalancedEntryError,
    UnknownAccountError,
    credit,
    debit,
)

D = Decimal
DAY = date(2024, 1, 15)


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("4000", "Sales", AccountType.INCOME)
    return Ledger(chart, currency="USD")


def test_unbalanced_entry_refused(ledger):
    with pytest.raises(UnbalancedEntryError):
        ledger.post(DAY, "Off by a cent", [debit("1000", D("100.00")), credit("4000", D("99.99"))])
    assert ledger.entries() == []


def test_unknown_account_refused(ledger):
    with pytest.raises(UnknownAccountError):
        ledger.post(DAY, "Where?", [debit("9999", D("10.00")), credit("4000", D("10.00"))])
    with pytest.raises(UnknownAccountError):
        ledger.balance("9999")


@pytest.mark.parametrize("amount", [D("0"), D("-5.00")], ids=["zero", "negative"])
def test_non_positive_amount_refused(ledger, amount):
    with pytest.raises(InvalidAmountError):
        ledger.post(DAY, "Bad amount", [debit("1000", amount), credit("4000", amount)])
    assert ledger.entries() == []


def test_currency_mismatch_refused(ledger):
    with pytest.raises(CurrencyMismatchError):
        ledger.post(DAY, "Euro sale", [debit("1000", D("5.00")), credit("4000", D("5.00"))], currency="EUR")
    entry = ledger.post(DAY, "Dollar sale", [debit("1000", D("5.00")), credit("4000", D("5.00"))], currency="USD")
    assert entry.currency == "USD"
    assert ledger.balance("1000") == D("5.00")
