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
    code_v: str
    name_v: str
    type_v: AccountType


class ChartOfAccounts:
    """The accounts a ledger may post to, keyed by code."""

    def __init__(self) -> None:
        self._by_code: dict[str, Account] = {}

    def add(self, code_v: str, name_v: str, type_v: AccountType | str) -> Account:
        account_type_v = AccountType(type_v)
        if code_v in self._by_code:
            raise DuplicateAccountError(f"account {code!r} is already in the chart")
        account_v = Account(code_v, name_v, account_type_v)
        self._by_code[code_v] = account_v
        return account_v

    def get(self, code_v: str) -> Account:
        try:
            return self._by_code[code_v]
        except KeyError:
            raise UnknownAccountError(f"no account {code!r} in the chart") from None

    def __contains__(self, code_v: object) -> bool:
        return code_v in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self._by_code.values(), key=lambda a: a.code_v))
