"""An assignment's gradebook: one row per learner (LMS user id where known, best and latest score, the
counted score, attempts, passed, late, credential), as CSV or JSON (grader.core.gradebook); and its LMS
grade passback with the audit of every try."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from redis.exceptions import RedisError

from grader.http.deps import AuthorCaller, ServicesDep, SessionDep
from grader.http.problems import ProblemError, not_found
from grader.jobs.queue import enqueue_passback
from grader.lti.gradebook import export
from grader.store import catalog, passbacks
from grader.store.models import PassbackStatus, utcnow

router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])

CSV_MEDIA = "text/csv; charset=utf-8"
JSON_MEDIA = "application/json"


def gradebook_response(slug: str, text: str, fmt: str) -> Response:
    """The export as a download (`<assignment>-gradebook.csv|json`), never cached, never sniffed."""
    return Response(
        text,
        media_type=CSV_MEDIA if fmt == "csv" else JSON_MEDIA,
        headers={
            "Content-Disposition": f'attachment; filename="{slug}-gradebook.{fmt}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/{assignment_id}/gradebook",
    response_class=Response,
    responses={200: {"content": {CSV_MEDIA: {}, JSON_MEDIA: {}}, "description": "The gradebook"}},
)
def get_gradebook(
    assignment_id: str,
    session: SessionDep,
    found: ServicesDep,
    who: AuthorCaller,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json")] = "json",
    roster: Annotated[bool, Query(description="add the LMS courses' learners who have not submitted")] = False,
) -> Response:
    """One row per learner who submitted: `learner`, `lms_user_id` (the LMS user id of their last launch,
    when they came from one), `attempts`, `best_score`, `best_percent`, `max_score`, `latest_score`,
    `latest_percent`, `latest_state`, `counts` (best or last, from the spec) and `score` (the counted
    one, what LMS passback sends), `passed`, `late` (the counted attempt came after the due date),
    `credential_id` and `credential_revoked`. With `roster=true`, the active learners of every LMS course
    the assignment is placed in (Names and Roles) who have not submitted get a row too; a course whose
    roster cannot be read is named in `roster_problems` (JSON) and counted in `X-Roster-Problems`."""
    assignment = catalog.assignment_by_slug(session, who.tenant_id, assignment_id)
    if assignment is None:
        raise not_found("assignment", assignment_id)
    done = export(session, found.settings, who.tenant_id, assignment, format, roster)
    answer = gradebook_response(assignment.slug, done.text, format)
    if done.roster_problems is not None:
        answer.headers["X-Roster-Problems"] = str(len(done.roster_problems))
    return answer


class PassbackTryOut(BaseModel):
    try_number: int
    revision: int
    at: datetime
    outcome: str  # delivered | retry | failed
    status_code: int | None
    error: str | None
    request: dict[str, Any]  # method, scores URL, userId, scores, timestamp; never the token


class PassbackOut(BaseModel):
    id: str
    learner: str
    lms_user_id: str
    resource_link_id: str  # the platform's id of the placement
    status: str  # pending | delivered | failed
    score_given: float
    score_maximum: float
    revision: int
    tries: int
    next_attempt_at: datetime | None
    lineitem_url: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_score_given: float | None
    delivered_at: datetime | None
    audit: list[PassbackTryOut]


@router.get("/{assignment_id}/passbacks", response_model=list[PassbackOut])
def get_passbacks(assignment_id: str, session: SessionDep, who: AuthorCaller) -> list[PassbackOut]:
    """LMS grade passback of the assignment: one entry per (placement, platform user), oldest first,
    with every try (docs/lti.md, "Grade passback")."""
    assignment = catalog.assignment_by_slug(session, who.tenant_id, assignment_id)
    if assignment is None:
        raise not_found("assignment", assignment_id)
    return [_passback_out(view) for view in passbacks.passback_views(session, who.tenant_id, assignment.id)]


def _passback_out(view: passbacks.PassbackView) -> PassbackOut:
    return PassbackOut(
        id=view.row.id,
        learner=view.user.learner,
        lms_user_id=view.user.sub,
        resource_link_id=view.link.resource_link_id,
        status=view.row.status,
        score_given=view.row.score_given,
        score_maximum=view.row.score_maximum,
        revision=view.row.revision,
        tries=view.row.tries,
        next_attempt_at=view.row.next_attempt_at,
        lineitem_url=view.row.lineitem_url or view.link.ags_lineitem_url,
        last_status_code=view.row.last_status_code,
        last_error=view.row.last_error,
        delivered_score_given=view.row.delivered_score_given,
        delivered_at=view.row.delivered_at,
        audit=[PassbackTryOut.model_validate(t, from_attributes=True) for t in view.tries],
    )


@router.post("/{assignment_id}/passbacks/{passback_id}/retry", status_code=202, response_model=PassbackOut)
def retry_passback(
    assignment_id: str, passback_id: str, session: SessionDep, found: ServicesDep, who: AuthorCaller
) -> PassbackOut:
    """Send a failed (or still pending) passback again now, with a fresh count of tries: after the
    registration, the course's scopes or the platform were put right. A delivered one is refused (409):
    only a changed grade is sent again."""
    assignment = catalog.assignment_by_slug(session, who.tenant_id, assignment_id)
    row = passbacks.passback_of(session, who.tenant_id, passback_id)
    if assignment is None or row is None or row.assignment_id != assignment.id:
        raise not_found("passback", passback_id)
    if row.status == PassbackStatus.DELIVERED.value:
        raise ProblemError(
            409, "passback-delivered", f"passback {passback_id} was delivered; only a changed grade is sent again"
        )
    row.status = PassbackStatus.PENDING.value
    row.tries = 0
    row.next_attempt_at = utcnow()
    row.last_error = None
    session.commit()
    try:
        row.job_id = enqueue_passback(found.queue, found.settings, row.id, row.revision, row.tries, row.job_id)
        session.commit()
    except RedisError:
        pass  # pending in the store: the reconciler enqueues it once Redis answers
    (view,) = passbacks.passback_views(session, who.tenant_id, assignment.id, only=row.id)
    return _passback_out(view)
