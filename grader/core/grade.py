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

    @property
    def tampered(self) -> bool:
        return any(f.tripwire for f in self.flags)
