# A helper module beside the tests, imported by them.
from decimal import Decimal

EXPECTED_VALUE = Decimal("41.50")


def names(items):
    return [item.name for item in items]
