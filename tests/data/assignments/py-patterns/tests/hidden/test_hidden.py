import pytest

import shapes


def test_unknown_kind():
    with pytest.raises(shapes.ShapeError):
        shapes.make("hexagon", 1)
