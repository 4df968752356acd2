"""Rubric scoring: a pure function from per-test outcomes to criterion points, levels and the pass rule."""

from __future__ import annotations

from collections.abc import Sequence

from grader.core.grade import NOT_YET, CriterionGrade, Outcome, TestGrade
from grader.core.spec import Criterion, Rubric


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
    percent = round(100 * score / rubric.max_points, 2)  # max_points > 0: every criterion has points > 0
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


def percent_text(value: float) -> str:
    """A percentage as people write it: at most 2 decimals, no trailing zeros (80, 68.75, 26.67)."""
    return f"{round(value, 2):g}"


def pass_level_name(criterion: Criterion) -> str:
    """The level a required criterion must reach: its pass_level, else its lowest level."""
    if criterion.pass_level is not None:
        return criterion.pass_level
    return criterion.ordered_levels()[-1][0]


def next_level(criterion: Criterion, percent: float) -> tuple[str, float] | None:
    """The lowest level above where `percent` stands, or None at the top."""
    above = [(name, threshold) for name, threshold in criterion.ordered_levels() if threshold > percent]
    return above[-1] if above else None


def position(criterion: Criterion, grade: CriterionGrade) -> str:
    """Where a learner stands on one criterion, beside the threshold that matters next, e.g.
    "11 of 16 tests, 68.75%; needs 80% for Proficient"."""
    head = f"{grade.tests_passed} of {grade.tests_total} tests, {percent_text(grade.percent)}%"
    if grade.required and not grade.meets_pass_level:
        return f"{head}; needs {percent_text(criterion.pass_threshold())}% for {pass_level_name(criterion)}"
    target = next_level(criterion, grade.percent)
    if target is None:
        return f"{head}; {grade.level}, the top level"
    return f"{head}; {grade.level}, needs {percent_text(target[1])}% for {target[0]}"


def standing(criterion: Criterion, grade: CriterionGrade) -> str:
    """The criterion's title, whether it is required, and its position:
    "Core (required): 11 of 16 tests, 68.75%; needs 80% for Proficient"."""
    return f"{criterion.title}{' (required)' if grade.required else ''}: {position(criterion, grade)}"


def pass_rule_text(rubric: Rubric) -> str:
    """The pass rule as a sentence, with criterion titles and thresholds."""
    text = f"To pass: at least {percent_text(rubric.pass_rule.min_percent)}% overall"
    by_id = {c.id: c for c in rubric.criteria}
    needs = [
        f"{by_id[r].title} at {pass_level_name(by_id[r])} ({percent_text(by_id[r].pass_threshold())}%) or above"
        for r in rubric.pass_rule.require
    ]
    if needs:
        text += ", and " + "; ".join(needs)
    return text + "."


def fail_reason(rubric: Rubric, criteria: Sequence[CriterionGrade], percent: float) -> str:
    """Why a scored (untampered, unlimited) run did not pass: every unmet part of the pass rule, as a
    sentence with titles, thresholds and where the learner stands."""
    parts: list[str] = []
    if percent < rubric.pass_rule.min_percent:
        parts.append(
            f"the total is {percent_text(percent)}%, below the pass mark of {percent_text(rubric.pass_rule.min_percent)}%"
        )
    by_id = {c.id: c for c in rubric.criteria}
    for grade in criteria:
        if grade.required and not grade.meets_pass_level:
            criterion = by_id[grade.id]
            parts.append(
                f"{criterion.title} (required) is at {percent_text(grade.percent)}% "
                f"({grade.tests_passed} of {grade.tests_total} tests), below the "
                f"{percent_text(criterion.pass_threshold())}% it needs for {pass_level_name(criterion)}"
            )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."
