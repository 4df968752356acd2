from .errors import *  # noqa: F401,F403
from .chart import Account, AccountType, ChartOfAccounts, Side  # noqa: F401
from .journal import JournalEntry, Line, credit, debit  # noqa: F401
from .ledger import Ledger  # noqa: F401
from .statements import BalanceSheet, IncomeStatement, TrialBalance, TrialBalanceRow  # noqa: F401
