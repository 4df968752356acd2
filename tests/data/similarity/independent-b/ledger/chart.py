from enum import Enum, auto
from dataclasses import dataclass, field

from .errors import DuplicateAccountError, UnknownAccountError


class Side(Enum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self):
        for side in Side:
            if side is not self:
                return side


class AccountType(Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_side(self):
        debit_normal = (AccountType.ASSET, AccountType.EXPENSE)
        return Side.DEBIT if self in debit_normal else Side.CREDIT


@dataclass(frozen=True, order=True)
class Account:
    code: str
    name: str = field(compare=False)
    type: AccountType = field(compare=False)


class ChartOfAccounts:
    def __init__(self, accounts=()):
        self._by_code = {}
        for a in accounts:
            self.add(a.code, a.name, a.type)

    def add(self, code, name, type):
        if self._by_code.get(code) is not None:
            raise DuplicateAccountError(f"duplicate account code {code}", code=code)
        acct = Account(code=code, name=name, type=AccountType(type))
        self._by_code[code] = acct
        return acct

    def get(self, code):
        acct = self._by_code.get(code)
        if acct is None:
            raise UnknownAccountError(f"unknown account {code}", code=code)
        return acct

    def of_type(self, kind):
        return [a for a in self if a.type is kind]

    def __contains__(self, code):
        return code in self._by_code

    def __len__(self):
        return len(self._by_code)

    def __iter__(self):
        return iter(sorted(self._by_code.values()))
