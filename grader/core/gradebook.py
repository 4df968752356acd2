"""The gradebook of one assignment, and which attempt's grade counts (for the export and for LMS passback).

Pure: plain attempt facts in, one row per learner out, then CSV or JSON text. The store side
(grader.store.gradebook) reads the facts; the CLI, the API and the author page only render.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

ERROR_STATE = "error"  # a submission the system or the author failed: it used no attempt


class Counts(StrEnum):
    """Which graded attempt stands for the learner (spec field `submission.counts`)."""

    BEST = "best"  # the highest percent; the earliest of equals (a later equal attempt changes nothing)
    LAST = "last"  # the most recently submitted attempt that has a grade


class AttemptFact(BaseModel):
    """One submission of a learner with its latest grade (None while ungraded, or when it never was)."""

    model_config = ConfigDict(frozen=True)

    learner: str
    submission_id: str
    attempt: int
    submitted_at: datetime
    state: str
    late: bool = False
    score: float | None = None
    max_score: float | None = None
    percent: float | None = None
    passed: bool = False
    credential_id: str | None = None
    credential_revoked: bool = False
    credential_issued_at: datetime | None = None

    @property
    def graded(self) -> bool:
        return self.score is not None and self.max_score is not None and self.percent is not None


class GradebookRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    learner: str
    lms_user_id: str | None
    attempts: int
    best_score: float | None
    best_percent: float | None
    max_score: float | None
    latest_score: float | None
    latest_percent: float | None
    latest_state: str
    counts: Counts
    score: float | None  # the counted attempt's score: what an LMS gradebook gets
    passed: bool
    late: bool  # the counted attempt was submitted after the due date
    credential_id: str | None
    credential_revoked: bool | None


def counted_attempt(attempts: Iterable[AttemptFact], counts: Counts) -> AttemptFact | None:
    """The graded attempt that stands for a learner, or None when none is graded. `attempts` in any
    order: they are ordered by submission time here (then attempt number, for equal times)."""
    graded = sorted((a for a in attempts if a.graded), key=lambda a: (a.submitted_at, a.attempt))
    if not graded:
        return None
    if counts is Counts.LAST:
        return graded[-1]
    best = graded[0]
    for candidate in graded[1:]:
        assert candidate.percent is not None and best.percent is not None
        if candidate.percent > best.percent:
            best = candidate
    return best


def _credential(attempts: list[AttemptFact]) -> AttemptFact | None:
    """The attempt whose credential the row names: a valid one over a revoked one, then the newest."""
    held = [a for a in attempts if a.credential_id is not None]
    if not held:
        return None
    return max(held, key=lambda a: (not a.credential_revoked, a.credential_issued_at or a.submitted_at))


def learner_row(learner: str, attempts: list[AttemptFact], counts: Counts, lms_user_id: str | None) -> GradebookRow:
    ordered = sorted(attempts, key=lambda a: (a.submitted_at, a.attempt))
    best = counted_attempt(ordered, Counts.BEST)
    latest = counted_attempt(ordered, Counts.LAST)
    counted = best if counts is Counts.BEST else latest
    credential = _credential(ordered)
    return GradebookRow(
        learner=learner,
        lms_user_id=lms_user_id,
        attempts=sum(1 for a in ordered if a.state != ERROR_STATE),
        best_score=best.score if best else None,
        best_percent=best.percent if best else None,
        max_score=best.max_score if best else None,
        latest_score=latest.score if latest else None,
        latest_percent=latest.percent if latest else None,
        latest_state=ordered[-1].state if ordered else "",
        counts=counts,
        score=counted.score if counted else None,
        passed=any(a.passed for a in ordered if a.graded),
        late=counted.late if counted else False,
        credential_id=credential.credential_id if credential else None,
        credential_revoked=credential.credential_revoked if credential else None,
    )


def gradebook_rows(
    attempts: Iterable[AttemptFact], counts: Counts, lms_user_ids: Mapping[str, str] | None = None
) -> list[GradebookRow]:
    """One row per learner who submitted, sorted by learner."""
    by_learner: dict[str, list[AttemptFact]] = {}
    for attempt in attempts:
        by_learner.setdefault(attempt.learner, []).append(attempt)
    ids = lms_user_ids or {}
    return [learner_row(learner, by_learner[learner], counts, ids.get(learner)) for learner in sorted(by_learner)]


class RosterEntry(BaseModel):
    """A learner of a course as its LMS lists them (Names and Roles), with the tenant's learner identity
    when they have launched (None before their first launch)."""

    model_config = ConfigDict(frozen=True)

    lms_user_id: str
    learner: str | None = None
    name: str | None = None
    email: str | None = None


def with_roster(rows: Iterable[GradebookRow], roster: Iterable[RosterEntry], counts: Counts) -> list[GradebookRow]:
    """The rows plus one empty row (no attempt) for every course member who has none yet, named by their
    learner identity, else their email, else `lms:<user id>`; sorted by learner."""
    out = list(rows)
    seen_learners = {row.learner for row in out}
    seen_ids = {row.lms_user_id for row in out if row.lms_user_id}
    for entry in roster:
        if entry.lms_user_id in seen_ids or (entry.learner is not None and entry.learner in seen_learners):
            continue
        learner = entry.learner or entry.email or f"lms:{entry.lms_user_id}"
        seen_ids.add(entry.lms_user_id)
        seen_learners.add(learner)
        out.append(
            GradebookRow(
                learner=learner,
                lms_user_id=entry.lms_user_id,
                attempts=0,
                best_score=None,
                best_percent=None,
                max_score=None,
                latest_score=None,
                latest_percent=None,
                latest_state="",
                counts=counts,
                score=None,
                passed=False,
                late=False,
                credential_id=None,
                credential_revoked=None,
            )
        )
    return sorted(out, key=lambda row: row.learner)


# The first ten columns are the author page's original gradebook, in its order; the rest came with the LMS.
CSV_COLUMNS = [
    "learner",
    "attempts",
    "best_score",
    "max_score",
    "best_percent",
    "latest_percent",
    "latest_state",
    "passed",
    "credential_id",
    "credential_revoked",
    "latest_score",
    "counts",
    "score",
    "late",
    "lms_user_id",
]


def _cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ (or a tab or CR) gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def to_csv(rows: Iterable[GradebookRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _cell(row.learner),
                row.attempts,
                _number(row.best_score),
                _number(row.max_score),
                _number(row.best_percent),
                _number(row.latest_percent),
                row.latest_state,
                _yes_no(row.passed),
                _cell(row.credential_id),
                _yes_no(row.credential_revoked),
                _number(row.latest_score),
                row.counts.value,
                _number(row.score),
                _yes_no(row.late),
                _cell(row.lms_user_id),
            ]
        )
    return buffer.getvalue()


def to_document(
    assignment: str, counts: Counts, rows: Iterable[GradebookRow], roster_problems: list[str] | None = None
) -> dict[str, Any]:
    """The JSON form; `roster_problems` only when the LMS rosters were asked for."""
    document: dict[str, Any] = {
        "assignment": assignment,
        "counts": counts.value,
        "rows": [row.model_dump(mode="json") for row in rows],
    }
    if roster_problems is not None:
        document["roster_problems"] = roster_problems
    return document


def to_json(
    assignment: str, counts: Counts, rows: Iterable[GradebookRow], roster_problems: list[str] | None = None
) -> str:
    return json.dumps(to_document(assignment, counts, rows, roster_problems), indent=2, ensure_ascii=False) + "\n"
