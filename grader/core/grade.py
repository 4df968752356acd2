"""The Grade: what the judge concludes about one run. Pure data, shared by feedback, store and credentials."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    MISSING = "missing"


class Flag(BaseModel):
    """A tripwire that fired or a notable condition. `tripwire` flags zero the grade."""

    model_config = ConfigDict(frozen=True)

    code: str
    detail: str
    tripwire: bool = True


class TestGrade(BaseModel):
    __test__ = False  # not a pytest test class, despite the name

    model_config = ConfigDict(frozen=True)

    id: str
    suite: str
    criterion: str
    outcome: Outcome
    duration: float = 0.0
    message: str = ""
    # What the learner's code (and the test) printed during this test, capped. Data only, never part of
    # the verdict; the learner sees it as grader.core.feedback's rules allow.
    output: str = ""
    # All of `output` was printed before any hidden test began, so it cannot carry what the learner's
    # code was shown there (see grader_harness/output.py AttributedOutput).
    output_before_hidden: bool = False


class CriterionGrade(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    points: float
    max_points: float
    percent: float
    level: str
    required: bool
    meets_pass_level: bool
    tests_passed: int
    tests_total: int


NOT_YET = "Not yet"


class Grade(BaseModel):
    assignment_id: str
    assignment_version: str
    spec_hash: str
    mode: str
    commit: str
    score: float
    max_score: float
    percent: float
    passed: bool
    criteria: list[CriterionGrade]
    tests: list[TestGrade]
    flags: list[Flag] = []
    reason: str = ""
    # What was printed outside any test (collection, imports) when the run split its output by test;
    # None when it did not (service mode, older grades): the run's whole output stands for it then.
    output_outside_tests: str | None = None

    @property
    def tampered(self) -> bool:
        return any(f.tripwire for f in self.flags)
