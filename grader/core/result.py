"""A grading run's result: the grade, its evidence, the stage timings, the learner's captured output and
the credential, when one was issued."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from grader.core.evidence import Evidence
from grader.core.grade import Grade


class GradingResult(BaseModel):
    grade: Grade
    evidence: Evidence
    timings: dict[str, float]
    learner_output: str = ""
    credential: dict[str, Any] | None = None
