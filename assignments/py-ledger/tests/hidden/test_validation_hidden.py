"""Entries the ledger must refuse: the less obvious ones."""

from datetime import date
from decimal import Decimal

import pytest

from ledger import (
    AccountType,
    ChartOfAccounts,
    CurrencyMismatchError,
    DuplicateAccountError,
    InvalidAmountError,
    Ledger,
    LedgerError,
    ReversalError,
    UnbalancedEntryError,
    UnknownAccountError,
    UnknownEntryError,
    credit,
    debit,
)

D = Decimal
DAY = date(2024, 3, 1)


@pytest.fixture
def ledger():
    chart = ChartOfAccounts()
    chart.add("1000", "Cash", AccountType.ASSET)
    chart.add("4000", "Sales", AccountType.INCOME)
    chart.add("4100", "Services", AccountType.INCOME)
    return Ledger(chart, currency="USD")


@pytest.mark.parametrize("amount", [10.0, "10.00"], ids=["float", "str"])
def test_non_decimal_amount_refused(ledger, amount):
    with pytest.raises(InvalidAmountError):
        ledger.post(DAY, "Loose types", [debit("1000", amount), credit("4000", amount)])
    assert ledger.entries() == []


@pytest.mark.parametrize("amount", ["NaN", "Infinity"])
def test_non_finite_amount_refused(ledger, amount):
    with pytest.raises(InvalidAmountError):
        ledger.post(DAY, "Not a number", [debit("1000", D(amount)), credit("4000", D(amount))])
    assert ledger.entries() == []


def test_sub_cent_amount_refused(ledger):
    with pytest.raises(InvalidAmountError):
        ledger.post(DAY, "Half a cent", [debit("1000", D("10.005")), credit("4000", D("10.005"))])
    entry = ledger.post(DAY, "Trailing zeros are fine", [debit("1000", D("10.500")), credit("4000", D("10.500"))])
    assert entry.id == 1
    assert ledger.balance("1000") == D("10.50")


def test_empty_entry_refused(ledger):
    with pytest.raises(UnbalancedEntryError):
        ledger.post(DAY, "Nothing", [])
    assert ledger.entries() == []


def test_failed_post_changes_nothing(ledger):
    ledger.post(DAY, "Cash sale", [debit("1000", D("10.00")), credit("4000", D("10.00"))])
    with pytest.raises(UnknownAccountError):
        ledger.post(
            DAY,
            "Half good",
            [debit("1000", D("50.00")), credit("4000", D("30.00")), credit("9999", D("20.00"))],
        )
    assert ledger.balance("1000") == D("10.00")
    assert ledger.balance("4000") == D("10.00")
    assert len(ledger.entries()) == 1
    assert ledger.post(DAY, "Next", [debit("1000", D("1.00")), credit("4100", D("1.00"))]).id == 2


def test_duplicate_account_refused(ledger):
    with pytest.raises(DuplicateAccountError):
        ledger.chart.add("1000", "Petty cash", AccountType.ASSET)
    assert ledger.chart.get("1000").name == "Cash"
    assert len(ledger.chart) == 3


def test_errors_share_a_base_class():
    for error in (
        DuplicateAccountError,
        UnknownAccountError,
        InvalidAmountError,
        UnbalancedEntryError,
        CurrencyMismatchError,
        UnknownEntryError,
        ReversalError,
    ):
        assert issubclass(error, LedgerError), error.__name__
    assert issubclass(LedgerError, Exception)
    assert len({DuplicateAccountError, UnknownAccountError, InvalidAmountError, UnbalancedEntryError,
                CurrencyMismatchError, UnknownEntryError, ReversalError}) == 7
