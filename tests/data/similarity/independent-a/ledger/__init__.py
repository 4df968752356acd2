"""Double-entry ledger in one module: accounts, entries, posting, reports."""

from ledger.model import *  # noqa: F401,F403
from ledger.model import __all__  # noqa: F401
