"""What an author says each solution scores (`solutions/expected.yaml`), and how a check compares a grade
with it: the rules `grader assignment check` and the service's check job decide by. Pure, but for
`load_expected`, which reads the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from grader.core.grade import Grade, Outcome
from grader.core.manifest import Manifest
from grader.core.spec import SpecError, SpecIssue

EXPECTED_FILE = "solutions/expected.yaml"
REFERENCE = "reference"


class ExpectedCriterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: float | None = None
    level: str | None = None


class ExpectedOutcome(BaseModel):
    """What the author says one solution scores (every field optional but `passed`)."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = None
    max_score: float | None = None
    percent: float | None = None
    passed: bool
    criteria: dict[str, ExpectedCriterion] = {}
    flags: list[str] = []


class CheckRow(BaseModel):
    solution: str
    expected: str
    got: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class CheckReport(BaseModel):
    assignment: str
    rows: list[CheckRow]
    problems: list[str]  # about the assignment itself (reference, collection)
    manifest: Manifest | None = None
    manifest_current: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems and all(row.ok for row in self.rows)


MANIFEST_STALE = "manifest.json is missing or out of date: run `grader assignment check --write-manifest`"


def refusals(report: CheckReport) -> list[str]:
    """Why the check refuses the assignment, each reason a sentence (empty: it passes). The CLI and the
    service's check job both decide by this."""
    reasons = list(report.problems)
    reasons += [f"solutions/{row.solution}: {'; '.join(row.problems)}" for row in report.rows if not row.ok]
    if report.manifest is not None and not report.manifest_current:
        reasons.append(MANIFEST_STALE)
    return reasons


def load_expected(root: Path) -> dict[str, ExpectedOutcome]:
    """The expected outcomes the author wrote down. Raises SpecError naming the file and field."""
    path = root / EXPECTED_FILE
    file = str(path)
    if not path.is_file():
        raise SpecError([SpecIssue(file=file, field="(file)", message="no expected outcomes: the check needs them")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file=file, field="(file)", message=f"not YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(file=file, field="(file)", message="expected a mapping of solution names")])
    outcomes: dict[str, ExpectedOutcome] = {}
    issues = []
    for name, body in data.items():
        try:
            outcomes[str(name)] = ExpectedOutcome.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in (name, *error["loc"]))
                issues.append(SpecIssue(file=file, field=where, message=error["msg"]))
        if not (root / "solutions" / str(name)).is_dir():
            issues.append(SpecIssue(file=file, field=str(name), message=f"no folder solutions/{name}"))
    if REFERENCE not in outcomes:
        issues.append(SpecIssue(file=file, field=REFERENCE, message="the reference solution must be listed"))
    if issues:
        raise SpecError(issues)
    return outcomes


def describe(grade: Grade) -> str:
    levels = ", ".join(f"{c.id} {c.level}" for c in grade.criteria)
    flags = f"; flags {sorted({f.code for f in grade.flags})}" if grade.flags else ""
    return f"{grade.score:g}/{grade.max_score:g} {'pass' if grade.passed else 'fail'} ({levels}){flags}"


def describe_expected(expected: ExpectedOutcome) -> str:
    score = f"{expected.score:g} " if expected.score is not None else ""
    return f"{score}{'pass' if expected.passed else 'fail'}" + (f"; flags {expected.flags}" if expected.flags else "")


def compare_outcome(expected: ExpectedOutcome, grade: Grade) -> list[str]:
    """How a grade differs from what the author wrote down (empty when it matches)."""
    problems = []
    for field in ("score", "max_score", "percent"):
        want = getattr(expected, field)
        if want is not None and round(want, 2) != round(getattr(grade, field), 2):
            problems.append(f"{field} {getattr(grade, field):g}, expected {want:g}")
    if expected.passed != grade.passed:
        problems.append(f"passed {grade.passed}, expected {expected.passed}" + (f" ({grade.reason})" if grade.reason else ""))
    by_id = {c.id: c for c in grade.criteria}
    for criterion_id, want_criterion in expected.criteria.items():
        got = by_id.get(criterion_id)
        if got is None:
            problems.append(f"criterion {criterion_id} does not exist")
            continue
        if want_criterion.points is not None and round(want_criterion.points, 2) != round(got.points, 2):
            problems.append(f"{criterion_id} points {got.points:g}, expected {want_criterion.points:g}")
        if want_criterion.level is not None and want_criterion.level != got.level:
            problems.append(f"{criterion_id} level {got.level}, expected {want_criterion.level}")
    missing_flags = sorted(set(expected.flags) - {f.code for f in grade.flags})
    if missing_flags:
        problems.append(f"flags {missing_flags} expected, not raised")
    return problems


def reference_problems(grade: Grade) -> list[str]:
    """Why the reference run cannot stand as the measure of the assignment (empty when it can)."""
    problems = []
    uncollected = sorted({t.id.split("::")[0] for t in grade.tests if t.message.startswith("could not be collected")})
    if uncollected:
        problems.append(f"test files failed to collect against the reference: {uncollected}")
    for flag in grade.flags:
        if flag.code in ("unexpected-test", "missing-results"):
            problems.append(
                f"the tests pytest ran differ from those found by reading the files ({flag.code}: {flag.detail})"
            )
    if grade.score != grade.max_score or not grade.passed:
        failing = [t.id for t in grade.tests if t.outcome is not Outcome.PASSED][:5]
        problems.append(f"the reference scores {grade.score:g}/{grade.max_score:g}, not 100% and passing: {failing}")
    return problems


def reported_ids(grade: Grade) -> dict[str, list[str]]:
    reported: dict[str, list[str]] = {}
    for test in grade.tests:
        if test.outcome is not Outcome.MISSING:
            reported.setdefault(test.suite, []).append(test.id)
    return reported
