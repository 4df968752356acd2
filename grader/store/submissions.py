"""Submissions, their history of events and their grades. Every query names its tenant (or, for the
reconciler, says it spans all)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, ScalarSelect, Table, and_, bindparam, case, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.core.policy import History
from grader.store.models import (
    TERMINAL_STATES,
    Assignment,
    AssignmentVersion,
    CredentialRecord,
    GradeRecord,
    Submission,
    SubmissionEvent,
    SubmissionState,
    Tenant,
    UTCDateTime,
    utcnow,
)


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def submission_by_key(session: Session, tenant_id: str, idempotency_key: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(Submission.tenant_id == tenant_id, Submission.idempotency_key == idempotency_key)
    )


def get_submission(session: Session, tenant_id: str, submission_id: str) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.tenant_id == tenant_id, Submission.id == submission_id))


@dataclass(frozen=True)
class VersionRef:
    """A version as admission needs it: no spec, no archive (a version's archive may be megabytes)."""

    id: str
    version: str
    status: str
    spec_hash: str


@dataclass(frozen=True)
class AdmissionTarget:
    """An assignment as admission needs it, read in one statement: its id, its versions (oldest first,
    the order catalog.versions_of gives) and the tenant's own rate limit."""

    assignment_id: str
    versions: list[VersionRef]
    tenant_per_minute: int | None


# The submit path's statements, built once with bound parameters: SQLAlchemy neither rebuilds nor
# re-keys them per request (building statements was most of a submission's CPU time).
_AV = AssignmentVersion
_TARGET = (
    select(Assignment.id, _AV.id, _AV.version, _AV.status, _AV.spec_hash, Tenant.submissions_per_minute)
    .select_from(Assignment)
    .join(Tenant, Tenant.id == Assignment.tenant_id)
    .outerjoin(_AV, and_(_AV.assignment_id == Assignment.id, _AV.tenant_id == Assignment.tenant_id))
    .where(Assignment.tenant_id == bindparam("tenant_id"), Assignment.slug == bindparam("slug"))
    .order_by(_AV.created_at, _AV.version)
)


def admission_target(session: Session, tenant_id: str, slug: str) -> AdmissionTarget | None:
    """The assignment `slug` of the tenant with its versions (no spec, no archive), or None."""
    rows = session.execute(_TARGET, {"tenant_id": tenant_id, "slug": slug}).all()
    if not rows:
        return None
    versions = [VersionRef(r[1], r[2], r[3], r[4]) for r in rows if r[1] is not None]
    return AdmissionTarget(assignment_id=rows[0][0], versions=versions, tenant_per_minute=rows[0][5])


def version_refs(session: Session, tenant_id: str, assignment_id: str) -> list[VersionRef]:
    """An assignment's versions, oldest first (the order catalog.versions_of gives), without their files."""
    rows = session.execute(
        select(_AV.id, _AV.version, _AV.status, _AV.spec_hash)
        .where(_AV.tenant_id == tenant_id, _AV.assignment_id == assignment_id)
        .order_by(_AV.created_at, _AV.version)
    ).all()
    return [VersionRef(*row) for row in rows]


def stored_spec(session: Session, tenant_id: str, version_id: str) -> dict[str, Any] | None:
    return session.scalar(select(_AV.spec).where(_AV.tenant_id == tenant_id, _AV.id == version_id))


_S = Submission
# A submission that ended in `error` (the author's fault or ours, never the learner's) uses no attempt;
# it keeps its number, so numbers go on from the highest.
_MINE_SO_FAR = (
    select(
        func.count(case((_S.state != SubmissionState.ERROR.value, 1))).label("attempts"),
        func.max(_S.attempt).label("last_attempt"),
        func.max(_S.created_at).label("last_at"),
    )
    .where(
        _S.tenant_id == bindparam("tenant_id"),
        _S.assignment_id == bindparam("assignment_id"),
        _S.learner == bindparam("learner"),
    )
    .subquery()
)


def _capped_count(*where: ColumnElement[bool], cap: str) -> ScalarSelect[int]:
    """How many rows match, counting no further than the bound `cap` (a limit needs no more)."""
    rows = select(_S.id).where(*where).limit(bindparam(cap, type_=Integer)).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


_HISTORY = select(
    _MINE_SO_FAR.c.attempts,
    _MINE_SO_FAR.c.last_attempt,
    _MINE_SO_FAR.c.last_at,
    _capped_count(
        _S.tenant_id == bindparam("tenant_id"),
        _S.learner == bindparam("learner"),
        _S.created_at > bindparam("hour_ago", type_=UTCDateTime),
        cap="learner_cap",
    ),
    _capped_count(
        _S.tenant_id == bindparam("tenant_id"),
        _S.created_at > bindparam("minute_ago", type_=UTCDateTime),
        cap="tenant_cap",
    ),
)
_NO_CAP = 2**31 - 1


def learner_history(
    session: Session,
    tenant_id: str,
    assignment_id: str,
    learner: str,
    now: datetime,
    rate_caps: tuple[int, int] | None = None,
) -> History:
    """What the policy needs to know of this learner on this assignment, and of the tenant's load: one
    statement over three indexes. `rate_caps` (learner per hour, tenant per minute) stops each rate count
    at its limit, so a busy tenant's count costs no more than the limit it is held to."""
    learner_cap, tenant_cap = rate_caps or (_NO_CAP, _NO_CAP)
    attempts, last_attempt, last_at, hour, minute = session.execute(
        _HISTORY,
        {
            "tenant_id": tenant_id,
            "assignment_id": assignment_id,
            "learner": learner,
            "hour_ago": now - timedelta(hours=1),
            "minute_ago": now - timedelta(minutes=1),
            "learner_cap": learner_cap,
            "tenant_cap": tenant_cap,
        },
    ).one()
    return History(
        attempts_used=attempts or 0,
        last_attempt=last_attempt or 0,
        last_submitted_at=_aware(cast(datetime | str | None, last_at)),
        learner_last_hour=hour or 0,
        tenant_last_minute=minute or 0,
    )


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate over a subquery may hand back SQLite's stored text or a naive (UTC) datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_INSERT_SUBMISSION = insert(cast(Table, Submission.__table__))
_INSERT_EVENT = insert(cast(Table, SubmissionEvent.__table__))


def insert_new_submission(session: Session, submission: Submission) -> bool:
    """Insert a new (transient) submission and its `queued` event as two plain INSERTs, without the ORM's
    unit of work (the submit path). False, rolled back, when a unique index refused it (a concurrent
    request with the same idempotency key, or the same attempt number)."""
    # Unset attributes are left out, so each column's own default applies (as the ORM's flush would).
    values = {c.key: v for c in Submission.__table__.columns if (v := getattr(submission, c.key)) is not None}
    try:
        session.execute(_INSERT_SUBMISSION, values)
    except IntegrityError:
        session.rollback()
        return False
    session.execute(
        _INSERT_EVENT,
        {
            "tenant_id": submission.tenant_id,
            "submission_id": submission.id,
            "run": submission.run,
            "state": SubmissionState.QUEUED.value,
            "stage": "",
            "status": "accepted",
            "detail": "",
            "at": submission.created_at,
        },
    )
    return True


def insert_submission(session: Session, submission: Submission) -> Submission | None:
    """Insert, or None when a concurrent request with the same idempotency key won the race."""
    session.add(submission)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    record_event(session, submission, SubmissionState.QUEUED, "", "accepted", "")
    return submission


def record_event(
    session: Session, submission: Submission, state: SubmissionState, stage: str, status: str, detail: str
) -> SubmissionEvent:
    """Move a submission to `state` and append the move to its history."""
    now = utcnow()
    submission.state = state.value
    submission.updated_at = now
    if state in TERMINAL_STATES:
        submission.finished_at = now
    event = SubmissionEvent(
        tenant_id=submission.tenant_id,
        submission_id=submission.id,
        run=submission.run,
        state=state.value,
        stage=stage,
        status=status,
        detail=detail[:2000],
        at=now,
    )
    session.add(event)
    session.flush()
    return event


def events_after(session: Session, tenant_id: str, submission_id: str, after_id: int) -> list[SubmissionEvent]:
    return list(
        session.scalars(
            select(SubmissionEvent)
            .where(
                SubmissionEvent.tenant_id == tenant_id,
                SubmissionEvent.submission_id == submission_id,
                SubmissionEvent.id > after_id,
            )
            .order_by(SubmissionEvent.id)
        )
    )


def stuck_submissions(session: Session, older_than: datetime, limit: int = 500) -> list[Submission]:
    """Non-terminal submissions that nothing has touched since `older_than` (across all tenants)."""
    open_states = [s.value for s in SubmissionState if s not in TERMINAL_STATES]
    return list(
        session.scalars(
            select(Submission)
            .where(Submission.state.in_(open_states), Submission.updated_at < older_than)
            .order_by(Submission.updated_at)
            .limit(limit)
        )
    )


def latest_grade(session: Session, submission: Submission) -> GradeRecord | None:
    return session.scalar(
        select(GradeRecord)
        .where(GradeRecord.tenant_id == submission.tenant_id, GradeRecord.submission_id == submission.id)
        .order_by(GradeRecord.run.desc())
        .limit(1)
    )


def credential_of_submission(session: Session, submission: Submission) -> CredentialRecord | None:
    return session.scalar(
        select(CredentialRecord).where(
            CredentialRecord.tenant_id == submission.tenant_id, CredentialRecord.submission_id == submission.id
        )
    )


def submissions_of_assignment(
    session: Session,
    tenant_id: str,
    assignment_id: str,
    version_id: str | None = None,
    submission_ids: Sequence[str] | None = None,
    learner: str | None = None,
) -> list[Submission]:
    """An assignment's submissions, oldest first, optionally of one version, among some ids or of one learner."""
    query = select(Submission).where(Submission.tenant_id == tenant_id, Submission.assignment_id == assignment_id)
    if learner is not None:
        query = query.where(Submission.learner == learner)
    if version_id is not None:
        query = query.where(Submission.assignment_version_id == version_id)
    if submission_ids is not None:
        query = query.where(Submission.id.in_(submission_ids))
    return list(session.scalars(query.order_by(Submission.created_at)))


def page_of_submissions(
    session: Session,
    tenant_id: str,
    *,
    assignment_id: str | None,
    learner: str | None,
    state: SubmissionState | None,
    offset: int,
    limit: int,
) -> list[Submission]:
    """The tenant's submissions, newest first, filtered by whatever is given."""
    query = select(Submission).where(Submission.tenant_id == tenant_id)
    if assignment_id is not None:
        query = query.where(Submission.assignment_id == assignment_id)
    if learner is not None:
        query = query.where(Submission.learner == learner)
    if state is not None:
        query = query.where(Submission.state == state.value)
    return list(session.scalars(query.order_by(Submission.created_at.desc()).offset(offset).limit(limit)))


def learner_submissions(
    session: Session, tenant_id: str, learner: str, assignment_id: str | None = None, limit: int = 200
) -> list[Submission]:
    """One learner's submissions in the tenant, newest first (the learner's own pages)."""
    query = select(Submission).where(Submission.tenant_id == tenant_id, Submission.learner == learner)
    if assignment_id is not None:
        query = query.where(Submission.assignment_id == assignment_id)
    return list(session.scalars(query.order_by(Submission.created_at.desc()).limit(limit)))


def learner_submission(session: Session, tenant_id: str, learner: str, submission_id: str) -> Submission | None:
    """A submission only when it is this learner's, in this tenant."""
    return session.scalar(
        select(Submission).where(
            Submission.tenant_id == tenant_id, Submission.learner == learner, Submission.id == submission_id
        )
    )


class ClassRow:
    """One submission of an assignment with its latest grade and its credential (class results)."""

    __slots__ = ("credential", "grade", "submission")

    def __init__(self, submission: Submission, grade: GradeRecord | None, credential: CredentialRecord | None) -> None:
        self.submission = submission
        self.grade = grade
        self.credential = credential


@dataclass(frozen=True)
class Outlook:
    """What the API shows beside a submission: its assignment's slug, its version's number, its latest
    grade and its credential."""

    assignment: str
    version: str
    grade: GradeRecord | None
    credential: CredentialRecord | None


def outlooks(session: Session, tenant_id: str, rows: Sequence[Submission]) -> dict[str, Outlook]:
    """The outlook of each submission, by id, in four queries however many rows (none loads a version's
    spec or archive)."""
    if not rows:
        return {}
    ids = [s.id for s in rows]
    slugs: dict[str, str] = {
        assignment_id: slug
        for assignment_id, slug in session.execute(
            select(Assignment.id, Assignment.slug).where(
                Assignment.tenant_id == tenant_id, Assignment.id.in_({s.assignment_id for s in rows})
            )
        )
    }
    numbers: dict[str, str] = {
        version_id: number
        for version_id, number in session.execute(
            select(_AV.id, _AV.version).where(_AV.tenant_id == tenant_id, _AV.id.in_({s.assignment_version_id for s in rows}))
        )
    }
    latest: dict[str, GradeRecord] = {}
    for grade in session.scalars(
        select(GradeRecord).where(GradeRecord.tenant_id == tenant_id, GradeRecord.submission_id.in_(ids))
    ):
        held = latest.get(grade.submission_id)
        if held is None or grade.run > held.run:
            latest[grade.submission_id] = grade
    credentials = {
        c.submission_id: c
        for c in session.scalars(
            select(CredentialRecord).where(CredentialRecord.tenant_id == tenant_id, CredentialRecord.submission_id.in_(ids))
        )
    }
    return {
        s.id: Outlook(slugs[s.assignment_id], numbers[s.assignment_version_id], latest.get(s.id), credentials.get(s.id))
        for s in rows
    }


def class_rows(session: Session, tenant_id: str, assignment_id: str, learner: str | None = None) -> list[ClassRow]:
    """Every submission of an assignment (or of one learner's), oldest first, with its latest grade and
    credential: three queries, each filtered by the tenant."""
    rows = submissions_of_assignment(session, tenant_id, assignment_id, learner=learner)
    ids = [s.id for s in rows]
    latest: dict[str, GradeRecord] = {}
    credentials: dict[str, CredentialRecord] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for grade in session.scalars(
            select(GradeRecord).where(GradeRecord.tenant_id == tenant_id, GradeRecord.submission_id.in_(chunk))
        ):
            held = latest.get(grade.submission_id)
            if held is None or grade.run > held.run:
                latest[grade.submission_id] = grade
        for credential in session.scalars(
            select(CredentialRecord).where(
                CredentialRecord.tenant_id == tenant_id, CredentialRecord.submission_id.in_(chunk)
            )
        ):
            credentials[credential.submission_id] = credential
    return [ClassRow(s, latest.get(s.id), credentials.get(s.id)) for s in rows]
