"""The pytest patterns course authors use, graded for real: a conftest importing the learner's package at
top level with fixtures and pytest_generate_tests, a helper module and a data file beside the tests,
test classes that inherit their tests from a contract class in that helper, parametrize with ids,
parametrized fixtures, markers, tmp_path, monkeypatch and capsys. The reference scores 100% with every
parameter set counted; in the in-process mode, which cannot load such a conftest, validate says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader.core.spec import SpecError, load_assignment
from grader.grading.pipeline import grade_repository
from tests.conftest import solution_files

pytestmark = pytest.mark.integration

PATTERNS = Path(__file__).resolve().parent.parent / "data" / "assignments" / "py-patterns"


def test_every_pattern_grades_the_reference_at_100_in_isolated_mode(publish_files, grading_settings, no_leftovers) -> None:
    assignment = load_assignment(PATTERNS)
    assert assignment.manifest is not None
    result = grade_repository(publish_files(solution_files(PATTERNS, "reference")), assignment, grading_settings)
    failed = {t.id: t.message[-500:] for t in result.grade.tests if t.outcome != "passed"}
    assert failed == {}
    assert result.grade.score == 100.0 and not result.grade.flags
    ids = {t.id for t in result.grade.tests}
    assert "test_shapes.py::TestCircle::test_area_grows_with_size" in ids  # inherited from the helper's class
    assert {"test_shapes.py::test_generated_sizes[1]", "test_shapes.py::test_every_kind_refuses_a_bad_size[ci]"} <= ids
    assert len(ids) == 16


def inprocess_copy(tmp_path: Path, lazy_conftest: bool) -> Path:
    target = tmp_path / "py-patterns"
    shutil.copytree(PATTERNS, target)
    spec = yaml.safe_load((target / "assignment.yaml").read_text())
    spec["mode"] = "unit-inprocess"
    (target / "assignment.yaml").write_text(yaml.safe_dump(spec))
    if lazy_conftest:
        conftest = target / "tests" / "visible" / "conftest.py"
        text = conftest.read_text().replace("import pytest\n\nimport shapes\n", "import pytest\n")
        text = text.replace("    return shapes.make(", "    import shapes\n\n    return shapes.make(")
        conftest.write_text(text)
    return target


def test_validate_names_the_conftest_line_the_inprocess_mode_cannot_load(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_assignment(inprocess_copy(tmp_path, lazy_conftest=False))
    [issue] = caught.value.issues
    assert issue.file.endswith("tests/visible/conftest.py") and issue.field == "line 3"
    assert "imports 'shapes' at top level" in issue.message and "mode 'unit'" in issue.message


def test_the_other_patterns_work_in_the_inprocess_mode(publish_files, grading_settings, tmp_path: Path, no_leftovers) -> None:
    assignment = load_assignment(inprocess_copy(tmp_path, lazy_conftest=True))
    result = grade_repository(publish_files(solution_files(PATTERNS, "reference")), assignment, grading_settings)
    failed = {t.id: t.message[-500:] for t in result.grade.tests if t.outcome != "passed"}
    assert failed == {}
    assert result.grade.score == 100.0 and result.grade.mode == "unit-inprocess"
