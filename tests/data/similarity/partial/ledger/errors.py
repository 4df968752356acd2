"""Exceptions raised by the ledger. Every one of them is a LedgerError."""


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class DuplicateAccountError(LedgerError):
    """An account with this code is already in the chart of accounts."""


class UnknownAccountError(LedgerError):
    """No account with this code is in the chart of accounts."""


class InvalidAmountError(LedgerError):
    """A line amount is not a finite, positive, whole number of cents given as Decimal or int."""


class UnbalancedEntryError(LedgerError):
    """An entry has no lines, or its debits do not equal its credits."""


class CurrencyMismatchError(LedgerError):
    """An entry is in a different currency from the ledger."""


class UnknownEntryError(LedgerError):
    """No journal entry with this id has been posted."""


class ReversalError(LedgerError):
    """An entry cannot be reversed (already reversed, itself a reversal, or dated too early)."""
