"""A contract every shape class must meet: test classes inherit these tests."""

import shapes


class ShapeContract:
    kind = ""

    def make(self, size):
        return shapes.make(self.kind, size)

    def test_area_grows_with_size(self):
        assert self.make(2).area() > self.make(1).area()

    def test_perimeter_is_positive(self):
        assert self.make(1).perimeter() > 0
