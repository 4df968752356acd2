"""Class results of one assignment, from its submissions with their latest grades (store.submissions.class_rows):
one line per learner (best and latest score, passed, credential), the distribution of best scores as bars
for a server-rendered SVG chart, per-criterion pass rates, the submissions that need the author's
attention. The gradebook export is grader.core.gradebook's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.store.models import CredentialRecord, SubmissionState
from grader.store.submissions import ClassRow

BINS = 10


@dataclass
class LearnerLine:
    learner: str
    attempts: int = 0
    best_percent: float | None = None
    best_score: float | None = None
    max_score: float | None = None
    latest_percent: float | None = None
    latest_state: str = ""
    passed: bool = False
    credential: CredentialRecord | None = None


@dataclass
class Bar:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class CriterionRate:
    id: str
    title: str
    met: int
    total: int

    @property
    def percent(self) -> float:
        return round(100 * self.met / self.total, 1) if self.total else 0.0


@dataclass
class Attention:
    row: ClassRow
    reasons: list[str]


@dataclass
class ClassResults:
    learners: list[LearnerLine]
    bars: list[Bar]
    rates: list[CriterionRate]
    attention: list[Attention]
    graded: int
    submissions: int
    chart: dict[str, Any] = field(default_factory=dict)


def _credential_better(held: CredentialRecord | None, new: CredentialRecord) -> bool:
    if held is None:
        return True
    if (held.revoked_at is None) != (new.revoked_at is None):
        return new.revoked_at is None  # a valid credential over a revoked one
    return new.issued_at > held.issued_at


def learner_lines(rows: list[ClassRow]) -> list[LearnerLine]:
    """One line per learner, rows taken oldest first (so the last graded one is the latest)."""
    lines: dict[str, LearnerLine] = {}
    for row in rows:
        line = lines.setdefault(row.submission.learner, LearnerLine(learner=row.submission.learner))
        if row.submission.state != SubmissionState.ERROR.value:
            line.attempts += 1
        line.latest_state = row.submission.state
        grade = row.grade
        if grade is not None:
            line.latest_percent = grade.percent
            if line.best_percent is None or grade.percent > line.best_percent:
                line.best_percent, line.best_score, line.max_score = grade.percent, grade.score, grade.max_score
            line.passed = line.passed or grade.passed
        if row.credential is not None and _credential_better(line.credential, row.credential):
            line.credential = row.credential
    return sorted(lines.values(), key=lambda line: line.learner)


def distribution(lines: list[LearnerLine], width: float = 400, height: float = 160) -> tuple[list[Bar], dict[str, Any]]:
    """Best scores in ten bins (0-9 %, …, 90-100 %) as bar geometry for an SVG of `width` x `height`
    plus axes room."""
    counts = [0] * BINS
    for line in lines:
        if line.best_percent is not None:
            counts[min(BINS - 1, int(line.best_percent // (100 / BINS)))] += 1
    top = max(counts) or 1
    left, bottom = 30.0, 24.0
    slot = (width - left) / BINS
    bars = []
    for i, count in enumerate(counts):
        h = (height - bottom - 8) * count / top
        label = f"{i * 10} to {i * 10 + 9}%" if i < BINS - 1 else "90 to 100%"
        bars.append(Bar(label=label, count=count, x=left + i * slot + 2, y=height - bottom - h, width=slot - 4, height=h))
    chart = {"width": width, "height": height, "left": left, "base": height - bottom, "top": top, "slot": slot}
    return bars, chart


def criterion_rates(rows: list[ClassRow]) -> list[CriterionRate]:
    """Per criterion, how many learners' latest grade meets its pass level."""
    latest: dict[str, ClassRow] = {}
    for row in rows:
        if row.grade is not None:
            latest[row.submission.learner] = row
    rates: dict[str, CriterionRate] = {}
    for row in latest.values():
        assert row.grade is not None
        for criterion in row.grade.grade.get("criteria", []):
            rate = rates.setdefault(
                str(criterion.get("id")),
                CriterionRate(id=str(criterion.get("id")), title=str(criterion.get("title", "")), met=0, total=0),
            )
            rate.total += 1
            rate.met += 1 if criterion.get("meets_pass_level") else 0
    return list(rates.values())


def attention(rows: list[ClassRow]) -> list[Attention]:
    """Submissions an author should look at, newest first: tampering, integrity flags, errors, refusals."""
    out = []
    for row in reversed(rows):
        reasons = []
        state = row.submission.state
        if state == SubmissionState.ERROR.value:
            reasons.append(f"error: {row.submission.error or 'the grading failed after every retry'}")
        elif state == SubmissionState.REJECTED.value:
            reasons.append(f"rejected: {row.submission.error or 'the submission was refused'}")
        elif state == SubmissionState.RETRYING.value:
            reasons.append("retrying after a fault of the system")
        if row.grade is not None:
            if row.grade.tampered:
                reasons.append("tampered: the run's results were interfered with")
            for flag in row.grade.grade.get("flags", []):
                reasons.append(f"flag {flag.get('code')}: {flag.get('detail', '')}")
        if reasons:
            out.append(Attention(row=row, reasons=reasons))
    return out


def class_results(rows: list[ClassRow]) -> ClassResults:
    lines = learner_lines(rows)
    bars, chart = distribution(lines)
    return ClassResults(
        learners=lines,
        bars=bars,
        rates=criterion_rates(rows),
        attention=attention(rows),
        graded=sum(1 for r in rows if r.grade is not None),
        submissions=len(rows),
        chart=chart,
    )
