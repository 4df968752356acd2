__all__ = [
    "LedgerError",
    "DuplicateAccountError",
    "UnknownAccountError",
    "InvalidAmountError",
    "UnbalancedEntryError",
    "CurrencyMismatchError",
    "UnknownEntryError",
    "ReversalError",
]


class LedgerError(ValueError):
    def __init__(self, message: str = "", **context: object) -> None:
        super().__init__(message)
        self.context = context


class DuplicateAccountError(LedgerError): ...
class UnknownAccountError(LedgerError, KeyError): ...
class InvalidAmountError(LedgerError): ...
class UnbalancedEntryError(LedgerError): ...
class CurrencyMismatchError(LedgerError): ...
class UnknownEntryError(LedgerError, KeyError): ...
class ReversalError(LedgerError): ...
