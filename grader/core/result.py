"""A grading run's result: the grade, its evidence, the stage timings, the learner's captured output and
the credential, when one was issued."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.similarity import SourceFile


class GradingResult(BaseModel):
    grade: Grade
    evidence: Evidence
    timings: dict[str, float]
    learner_output: str = ""
    credential: dict[str, Any] | None = None
    # The learner's source files for the similarity check (only when asked; never in the CLI's output).
    sources: list[SourceFile] = Field(default=[], exclude=True)
