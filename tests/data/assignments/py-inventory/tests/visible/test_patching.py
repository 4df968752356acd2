from decimal import Decimal

import pytest

import inventory.core
from inventory import Inventory, Item


def test_monkeypatch_a_learner_module_attribute(monkeypatch):
    monkeypatch.setattr(inventory.core, "clock", lambda: 42.0)
    inv = Inventory()
    inv.add(Item("B-1", "Bolt", Decimal("0.10")), 2)
    assert inv.log == [(42.0, "B-1", 2)]


def test_monkeypatch_is_undone():
    inv = Inventory()
    inv.add(Item("B-1", "Bolt", Decimal("0.10")))
    assert inv.log[0][0] != 42.0


def test_monkeypatch_by_dotted_name(monkeypatch):
    monkeypatch.setattr("inventory.core.clock", lambda: 7.5)
    inv = Inventory()
    inv.add(Item("N-1", "Nut", Decimal("0.05")))
    assert inv.log[0][0] == 7.5


def test_capsys_sees_what_the_learner_printed(capsys):
    Inventory().add(Item("S-1", "Saw", Decimal("20")), 4)
    assert capsys.readouterr().out == "added 4 x S-1\n"


def test_a_function_of_the_tests_as_a_callback(stocked):
    seen = []

    def double(item, count):
        seen.append(item.sku)
        return count * 2

    stocked.apply(double)
    assert seen == ["A-1", "H-1"]
    assert stocked.count("H-1") == 6


def test_attribute_writes_reach_the_learner(stocked):
    stocked.log = []
    stocked.add(stocked["H-1"], 1)
    assert len(stocked.log) == 1


def test_tester_objects_do_not_cross():
    class Clock:
        def now(self):
            return 1

    with pytest.raises(TypeError, match="cannot be passed to the learner"):
        Inventory().add(Clock(), 1)
