"""The gradebook export as the CLI, the API and the author page give it: the store's rows
(grader.store.gradebook), with the LMS courses' rosters merged in when asked (grader.lti.nrps), as CSV
or JSON text (grader.core.gradebook)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.gradebook import to_csv, to_json, with_roster
from grader.lti import nrps
from grader.store.gradebook import gradebook
from grader.store.models import Assignment

Format = Literal["csv", "json"]


@dataclass(frozen=True)
class Export:
    text: str
    learners: int
    roster_problems: list[str] | None  # None when the rosters were not asked for


def export(
    session: Session, settings: Settings, tenant_id: str, assignment: Assignment, fmt: Format, roster: bool = False
) -> Export:
    """The assignment's gradebook in `fmt`. With `roster`, reads the rosters over the network (a course
    that cannot be read is named in `roster_problems`, never an error)."""
    counts, rows = gradebook(session, tenant_id, assignment)
    problems: list[str] | None = None
    if roster:
        entries, problems = nrps.gradebook_roster(session, tenant_id, assignment.id, settings=settings)
        rows = with_roster(rows, entries, counts)
    text = to_csv(rows) if fmt == "csv" else to_json(assignment.slug, counts, rows, problems)
    return Export(text=text, learners=len(rows), roster_problems=problems)
