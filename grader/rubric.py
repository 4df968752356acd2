"""Rubric scoring: a pure function from per-test outcomes to criterion points, levels and the pass rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grader.grade import NOT_YET, CriterionGrade, Outcome, TestGrade
from grader.spec import Criterion, Rubric


def level_for(criterion: Criterion, percent: float) -> str:
    for name, threshold in criterion.ordered_levels():
        if percent >= threshold:
            return name
    return NOT_YET


def score_criterion(criterion: Criterion, tests: Sequence[TestGrade], required: bool) -> CriterionGrade:
    mine = [t for t in tests if t.criterion == criterion.id]
    passed = sum(1 for t in mine if t.outcome is Outcome.PASSED)
    fraction = passed / len(mine) if mine else 0.0
    percent = round(100 * fraction, 2)
    return CriterionGrade(
        id=criterion.id,
        title=criterion.title,
        points=round(criterion.points * fraction, 2),
        max_points=criterion.points,
        percent=percent,
        level=level_for(criterion, percent),
        required=required,
        meets_pass_level=100 * fraction >= criterion.pass_threshold(),
        tests_passed=passed,
        tests_total=len(mine),
    )


def score_rubric(rubric: Rubric, tests: Sequence[TestGrade]) -> tuple[list[CriterionGrade], float, float, bool]:
    """Returns (criteria, score, percent, passed) under the rubric's pass rule."""
    required = set(rubric.pass_rule.require)
    criteria = [score_criterion(c, tests, c.id in required) for c in rubric.criteria]
    score = round(sum(c.points for c in criteria), 2)
    max_points = rubric.max_points
    percent = round(100 * score / max_points, 2) if max_points else 0.0
    passed = percent >= rubric.pass_rule.min_percent and all(c.meets_pass_level for c in criteria if c.required)
    return criteria, score, percent, passed


def zero_criteria(rubric: Rubric, tests: Sequence[TestGrade]) -> list[CriterionGrade]:
    """Criteria with no credit, for a run whose results cannot be trusted."""
    required = set(rubric.pass_rule.require)
    return [
        CriterionGrade(
            id=c.id,
            title=c.title,
            points=0.0,
            max_points=c.points,
            percent=0.0,
            level=NOT_YET,
            required=c.id in required,
            meets_pass_level=False,
            tests_passed=0,
            tests_total=sum(1 for t in tests if t.criterion == c.id),
        )
        for c in rubric.criteria
    ]


def outcomes_by_criterion(tests: Sequence[TestGrade]) -> Mapping[str, list[TestGrade]]:
    grouped: dict[str, list[TestGrade]] = {}
    for test in tests:
        grouped.setdefault(test.criterion, []).append(test)
    return grouped
