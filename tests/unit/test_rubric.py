from __future__ import annotations

import pytest

from grader.core.grade import NOT_YET, Outcome, TestGrade
from grader.core.rubric import level_for, score_criterion, score_rubric
from grader.core.spec import Criterion, Rubric


def crit(cid: str = "core", points: float = 40, levels: dict[str, float] | None = None, **kw: object) -> Criterion:
    return Criterion(
        id=cid,
        title=cid,
        points=points,
        tests=[f"test_{cid}.py::*"],
        levels=levels or {"Exemplary": 100, "Proficient": 75, "Developing": 40},
        **kw,  # type: ignore[arg-type]
    )


def graded(cid: str, passed: int, failed: int) -> list[TestGrade]:
    outcomes = [Outcome.PASSED] * passed + [Outcome.FAILED] * failed
    return [
        TestGrade(id=f"test_{cid}.py::t{i}", suite="visible", criterion=cid, outcome=o) for i, o in enumerate(outcomes)
    ]


@pytest.mark.parametrize(
    ("percent", "level"),
    [(100, "Exemplary"), (99.99, "Proficient"), (75, "Proficient"), (40, "Developing"), (39.9, NOT_YET), (0, NOT_YET)],
)
def test_level_is_highest_threshold_reached(percent: float, level: str) -> None:
    assert level_for(crit(), percent) == level


def test_partial_credit_is_proportional_and_rounded() -> None:
    grade = score_criterion(crit(points=35), graded("core", 14, 1), required=True)
    assert grade.points == 32.67
    assert grade.percent == 93.33
    assert grade.level == "Proficient"
    assert (grade.tests_passed, grade.tests_total) == (14, 15)


def test_errors_skips_and_missing_count_as_not_passed() -> None:
    tests = [
        TestGrade(id="a", suite="visible", criterion="core", outcome=Outcome.PASSED),
        TestGrade(id="b", suite="visible", criterion="core", outcome=Outcome.ERROR),
        TestGrade(id="c", suite="hidden", criterion="core", outcome=Outcome.SKIPPED),
        TestGrade(id="d", suite="hidden", criterion="core", outcome=Outcome.MISSING),
    ]
    assert score_criterion(crit(points=40), tests, required=False).points == 10.0


def test_pass_needs_min_percent() -> None:
    rubric = Rubric.model_validate(
        {"pass": {"min_percent": 80}, "criteria": [crit("a", 50).model_dump(), crit("b", 50).model_dump()]}
    )
    _, score, percent, passed = score_rubric(rubric, graded("a", 4, 0) + graded("b", 2, 2))
    assert (score, percent, passed) == (75.0, 75.0, False)
    _, score, percent, passed = score_rubric(rubric, graded("a", 4, 0) + graded("b", 3, 1))
    assert (score, percent, passed) == (87.5, 87.5, True)


def test_required_criterion_must_reach_its_pass_level() -> None:
    rubric = Rubric.model_validate(
        {
            "pass": {"min_percent": 50, "require": ["a"]},
            "criteria": [crit("a", 20, pass_level="Proficient").model_dump(), crit("b", 80).model_dump()],
        }
    )
    # a at 50% (Developing, below Proficient) though the total is 90%.
    criteria, _, percent, passed = score_rubric(rubric, graded("a", 1, 1) + graded("b", 4, 0))
    assert percent == 90.0
    assert passed is False
    assert [c.meets_pass_level for c in criteria] == [False, True]


def test_required_criterion_default_pass_level_is_lowest_level() -> None:
    rubric = Rubric.model_validate(
        {"pass": {"min_percent": 0, "require": ["a"]}, "criteria": [crit("a", 10).model_dump()]}
    )
    assert score_rubric(rubric, graded("a", 2, 3))[3] is True  # 40% == Developing
    assert score_rubric(rubric, graded("a", 1, 4))[3] is False  # 20%


def test_criterion_without_tests_scores_zero_not_divide_by_zero() -> None:
    grade = score_criterion(crit(), [], required=False)
    assert (grade.points, grade.level, grade.tests_total) == (0.0, NOT_YET, 0)
