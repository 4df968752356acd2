import json
from pathlib import Path

import pytest
from contract import ShapeContract

import shapes

SIZES = json.loads((Path(__file__).parent / "data" / "sizes.json").read_text())


class TestSquare(ShapeContract):
    kind = "square"

    def test_square_area(self, unit_square):
        assert unit_square.area() == 1


class TestCircle(ShapeContract):
    kind = "circle"


@pytest.mark.parametrize(("size", "area"), [(int(k), v) for k, v in SIZES["square"].items()], ids=["three", "four"])
def test_square_areas_from_a_data_file(size, area):
    assert shapes.Square(size).area() == area


def test_every_kind_refuses_a_bad_size(kind):
    with pytest.raises(shapes.ShapeError, match="positive"):
        shapes.make(kind, 0)


def test_generated_sizes(generated_size):
    assert shapes.make("square", generated_size).perimeter() == 4 * generated_size


@pytest.mark.slow
def test_describe_prints(capsys):
    shapes.make("circle", 2).describe()
    assert capsys.readouterr().out == "circle of size 2\n"


def test_precision_can_be_patched(monkeypatch):
    monkeypatch.setattr(shapes, "PRECISION", 0)
    assert shapes.make("circle", 1).area() == 3


def test_tmp_path(tmp_path):
    (tmp_path / "out.txt").write_text(str(shapes.make("square", 5).area()))
    assert (tmp_path / "out.txt").read_text() == "25"
