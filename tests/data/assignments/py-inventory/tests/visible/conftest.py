# A suite conftest that imports the learner's package at top level and shares fixtures.
from decimal import Decimal

import pytest

import inventory
from inventory import Category, Item


@pytest.fixture
def hammer():
    return Item("H-1", "Hammer", Decimal("12.50"))


@pytest.fixture
def stocked(hammer):
    inv = inventory.Inventory()
    inv.add(hammer, 3)
    inv.add(Item("A-1", "Apple", Decimal("0.40"), Category.FOOD), 10)
    return inv
