from pathlib import Path

from grader.core.testids import base_id, discover_test_ids


def test_discovers_functions_classes_and_nested_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "test_a.py").write_text(
        "import pytest\n"
        "def test_one(): pass\n"
        "async def test_async(): pass\n"
        "def helper(): pass\n"
        "@pytest.mark.parametrize('x', [1, 2])\n"
        "def test_param(x): pass\n"
        "class TestGroup:\n"
        "    def test_inner(self): pass\n"
        "    def helper(self): pass\n"
        "class TestWithInit:\n"
        "    def __init__(self): pass\n"
        "    def test_never(self): pass\n"
    )
    (tmp_path / "sub" / "b_test.py").write_text("def test_b(): pass\n")
    (tmp_path / "helpers.py").write_text("def test_not_collected(): pass\n")
    ids, problems = discover_test_ids(tmp_path)
    assert ids == [
        "sub/b_test.py::test_b",
        "test_a.py::test_one",
        "test_a.py::test_async",
        "test_a.py::test_param",
        "test_a.py::TestGroup::test_inner",
    ]
    assert problems == []


def test_redefined_test_is_reported(tmp_path: Path) -> None:
    (tmp_path / "test_dup.py").write_text("def test_x(): pass\ndef test_x(): pass\n")
    ids, problems = discover_test_ids(tmp_path)
    assert ids == ["test_dup.py::test_x"]
    assert problems[0].message.startswith("test defined twice")


def test_base_id_strips_parameters() -> None:
    assert base_id("test_a.py::test_p[1-2]") == "test_a.py::test_p"
    assert base_id("test_a.py::TestC::test_q[x[0]]") == "test_a.py::TestC::test_q"
    assert base_id("test_a.py::test_plain") == "test_a.py::test_plain"


def test_inherited_test_methods_are_found_in_the_file_and_in_helper_modules(tmp_path: Path) -> None:
    (tmp_path / "contract.py").write_text("class Contract:\n    def test_a(self):\n        pass\n\n\nclass Deeper(Contract):\n    def test_b(self):\n        pass\n")
    (tmp_path / "test_x.py").write_text(
        "from contract import Deeper\n\n\nclass Local:\n    def test_c(self):\n        pass\n\n\n"
        "class TestImpl(Deeper, Local):\n    def test_own(self):\n        pass\n\n\n"
        "class NotATest(Deeper):\n    pass\n"
    )
    ids, problems = discover_test_ids(tmp_path)
    assert problems == []
    assert sorted(ids) == [
        "test_x.py::TestImpl::test_a",
        "test_x.py::TestImpl::test_b",
        "test_x.py::TestImpl::test_c",
        "test_x.py::TestImpl::test_own",
    ]
