"""Account types, accounts and the chart of accounts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from .errors import DuplicateAccountError, UnknownAccountError


class Side(Enum):
    """The two sides of a journal line."""

    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountType(Enum):
    """The five classic account types."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Side:
        """The side on which an account of this type normally carries its balance."""
        if self in (AccountType.ASSET, AccountType.EXPENSE):
            return Side.DEBIT
        return Side.CREDIT


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: AccountType


class ChartOfAccounts:
    """The accounts a ledger may post to, keyed by code."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def add(self, code: str, name: str, type: AccountType | str) -> Account:
        account_type = AccountType(type)
        if code in self._accounts:
            raise DuplicateAccountError(f"account {code!r} is already in the chart")
        account = Account(code, name, account_type)
        self._accounts[code] = account
        return account

    def get(self, code: str) -> Account:
        try:
            return self._accounts[code]
        except KeyError:
            raise UnknownAccountError(f"no account {code!r} in the chart") from None

    def __contains__(self, code: object) -> bool:
        return code in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self._accounts.values(), key=lambda a: a.code))
