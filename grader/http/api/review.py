"""The review queue: passing submissions whose credential waits for an instructor (an ownership
failure the spec sends to review, the same commit or tree as another learner's, or similarity above
the assignment's threshold), the matching regions side by side, and the decision.

An approval queues the issue stage (grader.jobs.review), which issues the credential once; a
rejection issues none, and its reason is what the learner reads (`GET /submissions/{id}/review`).
The learner's view never names the other submission or its learner; the instructor's does.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from grader.core.review import Decision, Flag, ReviewConflict, ReviewState, learner_message
from grader.core.similarity import Match, SimilarityOutcome, SourceFile
from grader.http.deps import AuthorCaller, ServicesDep, SessionDep, SubmitCaller
from grader.http.problems import FieldError, ProblemError, not_found
from grader.jobs.queue import enqueue_review_issue
from grader.jobs.services import Services
from grader.store import authenticity, submissions
from grader.store.models import Assignment, Review, Submission

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["review"])


class ReviewOut(BaseModel):
    id: str
    submission_id: str
    assignment: str
    learner: str
    repo_url: str
    commit: str | None
    state: ReviewState
    flags: list[Flag]
    reason: str
    decided_by: str
    created_at: datetime
    decided_at: datetime | None
    credential_id: str | None


class SideOut(BaseModel):
    submission_id: str
    learner: str
    repo_url: str
    commit: str | None
    files: list[SourceFile]


class MatchOut(BaseModel):
    """One earlier submission this one resembles, with both sides' files for the side-by-side view."""

    match: Match
    other: SideOut | None


class ReviewDetail(ReviewOut):
    this: SideOut | None
    similarity: SimilarityOutcome | None
    matches: list[MatchOut]


class DecisionIn(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=2000, description="Required for a rejection: the learner reads it")


class DecisionOut(BaseModel):
    review: ReviewOut
    issuing: bool = Field(description="Whether the credential's issue stage was queued")
    detail: str


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_offset: int | None


class LearnerReviewOut(BaseModel):
    state: ReviewState
    message: str


def review_out(session: Session, review: Review) -> ReviewOut:
    submission = session.get(Submission, review.submission_id)
    assert submission is not None
    assignment = session.get(Assignment, submission.assignment_id)
    credential = submissions.credential_of_submission(session, submission)
    return ReviewOut(
        id=review.id,
        submission_id=review.submission_id,
        assignment=assignment.slug if assignment else "",
        learner=submission.learner,
        repo_url=submission.repo_url,
        commit=submission.commit,
        state=ReviewState(review.state),
        flags=[Flag.model_validate(f) for f in review.flags],
        reason=review.reason,
        decided_by=review.decided_by,
        created_at=review.created_at,
        decided_at=review.decided_at,
        credential_id=credential.id if credential else None,
    )


def _side(session: Session, tenant_id: str, submission_id: str) -> SideOut | None:
    submission = submissions.get_submission(session, tenant_id, submission_id)
    work = authenticity.work_of(session, tenant_id, submission_id)
    if submission is None or work is None:
        return None
    return SideOut(
        submission_id=submission.id,
        learner=submission.learner,
        repo_url=submission.repo_url,
        commit=submission.commit,
        files=[SourceFile.model_validate(f) for f in work.sources],
    )


def review_detail(session: Session, review: Review) -> ReviewDetail:
    """The review with this submission's files and each match's: what the side-by-side view shows."""
    base = review_out(session, review)
    work = authenticity.work_of(session, review.tenant_id, review.submission_id)
    outcome = SimilarityOutcome.model_validate(work.similarity) if work and work.similarity else None
    matches = [
        MatchOut(match=m, other=_side(session, review.tenant_id, m.other_submission_id))
        for m in (outcome.matches if outcome else [])
    ]
    return ReviewDetail(
        **base.model_dump(),
        this=_side(session, review.tenant_id, review.submission_id),
        similarity=outcome,
        matches=matches,
    )


def own_review(session: Session, tenant_id: str, review_id: str) -> Review:
    review = authenticity.get_review(session, tenant_id, review_id)
    if review is None:
        raise not_found("review", review_id)
    return review


def apply_decision(
    session: Session, services: Services, review: Review, approve: bool, reason: str, decided_by: str
) -> DecisionOut:
    """Record the decision and, for an approval, queue the issue stage. Raises ProblemError: 422 for a
    rejection without a reason, 409 for a review already decided the other way."""
    try:
        checked = Decision(approve=approve, reason=reason).checked_reason()
    except (ValueError, ValidationError) as exc:
        message = str(exc) if not isinstance(exc, ValidationError) else exc.errors()[0]["msg"]
        raise ProblemError(
            422, "reason-required", message, errors=[FieldError(location="body.reason", message=message)]
        ) from exc
    try:
        state = authenticity.record_decision(session, review, approve, checked, decided_by)
    except ReviewConflict as exc:
        session.rollback()
        raise ProblemError(409, "review-decided", str(exc)) from exc
    session.commit()
    issuing, detail = False, "rejected: the learner reads the reason"
    if state is ReviewState.APPROVED:
        try:
            enqueue_review_issue(services.queue, services.settings, review.id)
            issuing, detail = True, "approved: the credential's issue stage is queued"
        except RedisError as exc:
            log.warning("could not queue the issue stage of review %s now: %s", review.id, exc)
            detail = "approved, but the queue is unavailable: send the approval again to queue the issue stage"
    return DecisionOut(review=review_out(session, review), issuing=issuing, detail=detail)


@router.get("/reviews", response_model=ReviewPage)
def list_reviews(
    session: SessionDep,
    who: AuthorCaller,
    state: Annotated[ReviewState | None, Query()] = ReviewState.PENDING,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReviewPage:
    """The review queue, oldest first (pending by default)."""
    rows = authenticity.reviews_page(session, who.tenant_id, state, offset, limit + 1)
    more = len(rows) > limit
    return ReviewPage(items=[review_out(session, r) for r in rows[:limit]], next_offset=offset + limit if more else None)


@router.get("/reviews/{review_id}", response_model=ReviewDetail)
def get_review(review_id: str, session: SessionDep, who: AuthorCaller) -> ReviewDetail:
    """One review with the flags, the similarity check and both sides' files of each match."""
    return review_detail(session, own_review(session, who.tenant_id, review_id))


@router.post("/reviews/{review_id}/decision", response_model=DecisionOut)
def decide_review(
    review_id: str, body: DecisionIn, session: SessionDep, services: ServicesDep, who: AuthorCaller
) -> DecisionOut:
    """Approve (the credential is issued, once) or reject with a reason the learner reads."""
    review = own_review(session, who.tenant_id, review_id)
    return apply_decision(session, services, review, body.approve, body.reason, f"api-key:{who.key_id}")


@router.get("/submissions/{submission_id}/review", response_model=LearnerReviewOut)
def submission_review(submission_id: str, session: SessionDep, who: SubmitCaller) -> LearnerReviewOut:
    """Whether the submission's credential waits for review, and a rejection's reason (never the flags'
    other submissions). 404 when it was never held."""
    submission = submissions.get_submission(session, who.tenant_id, submission_id)
    review = authenticity.review_of_submission(session, who.tenant_id, submission_id) if submission else None
    if review is None:
        raise not_found("review of submission", submission_id)
    state = ReviewState(review.state)
    return LearnerReviewOut(state=state, message=learner_message(state, review.reason))

