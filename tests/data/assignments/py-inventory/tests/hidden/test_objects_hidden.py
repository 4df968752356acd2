from decimal import Decimal

import pytest

from inventory import Category, Inventory, Item, OutOfStock


@pytest.fixture(params=[1, 5], ids=["single", "bulk"])
def quantity(request):
    return request.param


def test_parametrized_fixture(quantity):
    inv = Inventory()
    assert inv.add(Item("C-1", "Chisel", Decimal("9")), quantity) == quantity


class TestTaking:
    def test_take_to_zero(self):
        inv = Inventory()
        inv.add(Item("C-1", "Chisel", Decimal("9")), 2)
        assert inv.take("C-1", 2) == 0

    def test_take_from_nothing(self):
        with pytest.raises(OutOfStock):
            Inventory().take("C-1")


def test_food_value():
    inv = Inventory()
    inv.add(Item("P-1", "Pear", Decimal("0.30"), Category.FOOD), 10)
    assert inv.total_value() == Decimal("3.00")
