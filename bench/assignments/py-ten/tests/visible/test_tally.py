import pytest

from tally import Tally, double


@pytest.mark.parametrize("n", range(8))
def test_double(n):
    assert double(n) == 2 * n


def test_tally_adds():
    t = Tally()
    t.add("a")
    t.add("a", 2)
    assert t.counts == {"a": 3}


def test_tally_total():
    t = Tally()
    for key in "abc":
        t.add(key)
    assert t.total() == 3
