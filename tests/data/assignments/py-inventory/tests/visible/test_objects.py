from decimal import Decimal

import pytest
from helpers_expect import EXPECTED_VALUE, names

import inventory
from inventory import Category, Inventory, InventoryError, Item, OutOfStock


def test_isinstance_and_dataclass_equality(hammer):
    assert isinstance(hammer, Item)
    assert not isinstance(hammer, Inventory)
    assert hammer == Item("H-1", "Hammer", Decimal("12.50"))
    assert hammer != Item("H-2", "Hammer", Decimal("12.50"))
    assert len({hammer, Item("H-1", "Hammer", Decimal("12.50"))}) == 1
    assert hammer.price == Decimal("12.50") and isinstance(hammer.price, Decimal)
    assert type(hammer).__name__ == "Item"


def test_raises_learner_exception_with_attributes(stocked):
    with pytest.raises(OutOfStock) as caught:
        stocked.take("H-1", 5)
    assert caught.value.sku == "H-1" and caught.value.wanted == 5 and caught.value.available == 3
    assert isinstance(caught.value, InventoryError)
    with pytest.raises(InventoryError, match=r"only 3 of H-1"):
        stocked.take("H-1", 4)


def test_except_clause_and_builtin_errors(stocked):
    try:
        stocked.take("A-1", 99)
    except OutOfStock as error:
        assert "99 wanted" in str(error)
    else:
        pytest.fail("no OutOfStock")
    with pytest.raises(KeyError):
        stocked.count("nope")
    with pytest.raises(ValueError, match="positive"):
        stocked.add(Item("X", "X", Decimal("1")), 0)


@pytest.mark.parametrize(("sku", "qty", "left"), [("H-1", 1, 2), ("H-1", 3, 0), ("A-1", 4, 6)], ids=["one", "all", "food"])
def test_take_parametrized(stocked, sku, qty, left):
    assert stocked.take(sku, qty) == left


def test_returned_containers(stocked, hammer):
    assert stocked.skus() == ["A-1", "H-1"]
    assert names(stocked.items()) == ["Apple", "Hammer"]
    grouped = stocked.by_category()
    assert set(grouped) == {Category.FOOD, Category.TOOLS}
    assert grouped[Category.TOOLS] == [hammer]
    assert stocked.total_value() == EXPECTED_VALUE


def test_protocols(stocked, hammer):
    assert len(stocked) == 2
    assert "H-1" in stocked and "Z" not in stocked
    assert [item.sku for item in stocked] == ["A-1", "H-1"]
    assert stocked["H-1"] == hammer
    assert sorted(stocked, key=lambda item: item.price)[0].name == "Apple"


def test_enum_class(stocked):
    assert list(Category) == [Category.FOOD, Category.TOOLS]
    assert Category("food") is Category.FOOD
    assert Category.FOOD.value == "food"
    assert stocked["A-1"].category is Category.FOOD
    assert inventory.DEFAULT_CATEGORY is Category.TOOLS


def test_context_manager_and_module_function(stocked):
    with pytest.raises(OutOfStock):
        with stocked.transaction() as same:
            same.take("H-1", 2)
            same.take("H-1", 2)
    assert stocked.count("H-1") == 3
    assert inventory.restock_all(stocked, 1) == 2
    assert stocked.count("A-1") == 11


@pytest.mark.slow
def test_marker_and_tmp_path(tmp_path, stocked):
    target = tmp_path / "skus.txt"
    target.write_text("\n".join(stocked.skus()))
    assert target.read_text().splitlines() == ["A-1", "H-1"]
