import math

PRECISION = 2


class ShapeError(ValueError):
    pass


class Shape:
    def __init__(self, size):
        if size <= 0:
            raise ShapeError(f"size must be positive, not {size}")
        self.size = size

    def describe(self):
        print(f"{type(self).__name__.lower()} of size {self.size}")


class Square(Shape):
    def area(self):
        return round(self.size**2, PRECISION)

    def perimeter(self):
        return round(4 * self.size, PRECISION)


class Circle(Shape):
    def area(self):
        return round(math.pi * self.size**2, PRECISION)

    def perimeter(self):
        return round(2 * math.pi * self.size, PRECISION)


KINDS = {"square": Square, "circle": Circle}


def make(kind, size):
    if kind not in KINDS:
        raise ShapeError(f"unknown kind {kind!r}")
    return KINDS[kind](size)
