"""A small double-entry bookkeeping library."""


from .accounts import Account, AccountType, ChartOfAccounts, Side


from .book import Ledger


from .entries import JournalEntry, Line, credit, debit


from .errors import (
    CurrencyMismatchError,
    DuplicateAccountError,
    InvalidAmountError,
    LedgerError,
    ReversalError,
    UnbalancedEntryError,
    UnknownAccountError,
    UnknownEntryError,
)


from .reports import BalanceSheet, IncomeStatement, TrialBalance, TrialBalanceRow


__all__ = [
    "Account",
    "AccountType",
    "BalanceSheet",
    "ChartOfAccounts",
    "CurrencyMismatchError",
    "DuplicateAccountError",
    "IncomeStatement",
    "InvalidAmountError",
    "JournalEntry",
    "Ledger",
    "LedgerError",
    "Line",
    "ReversalError",
    "Side",
    "TrialBalance",
    "TrialBalanceRow",
    "UnbalancedEntryError",
    "UnknownAccountError",
    "UnknownEntryError",
    "credit",
    "debit",
]
