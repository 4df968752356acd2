# Per-call cost of the bridge: the same test with 0 and with 500 calls to learner code.
from tally import double


def test_no_calls():
    assert sum(2 * n for n in range(500)) == 249500


def test_many_calls():
    assert sum(double(n) for n in range(500)) == 249500
