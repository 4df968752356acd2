import pytest

import shapes


@pytest.fixture
def unit_square():
    return shapes.make("square", 1)


@pytest.fixture(params=["square", "circle"], ids=["sq", "ci"])
def kind(request):
    return request.param


def pytest_generate_tests(metafunc):
    if "generated_size" in metafunc.fixturenames:
        metafunc.parametrize("generated_size", [1, 2, 3])
