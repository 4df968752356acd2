"""Queries of the authenticity checks: learners' public keys, what each graded run's work was
(commit, tree, sources, fingerprints), and the review queue. Every query filters by tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.core.ownership import KeyKind, RegisteredKey
from grader.core.review import EarlierWork, ReviewState, decide
from grader.store import submissions
from grader.store.models import LearnerKey, Review, Submission, SubmissionState, SubmissionWork, utcnow

# Keys ---------------------------------------------------------------------------------------------

MAX_KEYS_PER_LEARNER = 20


class TooManyKeys(ValueError):
    """A learner may register at most MAX_KEYS_PER_LEARNER keys."""


def learner_keys(session: Session, tenant_id: str, learner: str) -> list[LearnerKey]:
    return list(
        session.scalars(
            select(LearnerKey)
            .where(LearnerKey.tenant_id == tenant_id, LearnerKey.learner == learner)
            .order_by(LearnerKey.created_at, LearnerKey.id)
        )
    )


def registered_keys(session: Session, tenant_id: str, learner: str) -> tuple[RegisteredKey, ...]:
    return tuple(
        RegisteredKey(kind=KeyKind(k.kind), fingerprint=k.fingerprint, public_key=k.public_key)
        for k in learner_keys(session, tenant_id, learner)
    )


def add_key(session: Session, tenant_id: str, learner: str, key: RegisteredKey, label: str = "") -> tuple[LearnerKey, bool]:
    """Register `key` for the learner; returns the row and whether it is new (registering the same key
    again returns the first row). Raises TooManyKeys past the cap."""
    for row in learner_keys(session, tenant_id, learner):
        if row.fingerprint == key.fingerprint:
            return row, False
    if len(learner_keys(session, tenant_id, learner)) >= MAX_KEYS_PER_LEARNER:
        raise TooManyKeys(f"a learner may register at most {MAX_KEYS_PER_LEARNER} keys; remove one first")
    row = LearnerKey(
        tenant_id=tenant_id,
        learner=learner,
        kind=key.kind.value,
        fingerprint=key.fingerprint,
        public_key=key.public_key,
        label=label,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same key registered concurrently
        existing = session.scalar(
            select(LearnerKey).where(
                LearnerKey.tenant_id == tenant_id, LearnerKey.learner == learner, LearnerKey.fingerprint == key.fingerprint
            )
        )
        assert existing is not None
        return existing, False
    return row, True


def remove_key(session: Session, tenant_id: str, learner: str, key_id: str) -> bool:
    row = session.get(LearnerKey, key_id)
    if row is None or row.tenant_id != tenant_id or row.learner != learner:
        return False
    session.delete(row)
    session.flush()
    return True


# Work of graded runs ---------------------------------------------------------------------------------


def work_of(session: Session, tenant_id: str, submission_id: str, run: int | None = None) -> SubmissionWork | None:
    """The work row of one run of a submission (the latest run when `run` is None)."""
    query = select(SubmissionWork).where(
        SubmissionWork.tenant_id == tenant_id, SubmissionWork.submission_id == submission_id
    )
    if run is not None:
        query = query.where(SubmissionWork.run == run)
    return session.scalar(query.order_by(SubmissionWork.run.desc()).limit(1))


def duplicate_candidates(session: Session, work: SubmissionWork) -> list[EarlierWork]:
    """Other learners' work in the tenant with the same commit or the same tree."""
    same = [SubmissionWork.commit == work.commit]
    if work.tree:
        same.append(SubmissionWork.tree == work.tree)
    rows = session.scalars(
        select(SubmissionWork)
        .where(
            SubmissionWork.tenant_id == work.tenant_id,
            SubmissionWork.submission_id != work.submission_id,
            SubmissionWork.learner != work.learner,
            or_(*same),
        )
        .order_by(SubmissionWork.created_at, SubmissionWork.id)
        .limit(50)
    )
    return [EarlierWork(submission_id=r.submission_id, learner=r.learner, commit=r.commit, tree=r.tree) for r in rows]


def similarity_candidates(session: Session, work: SubmissionWork, limit: int) -> Iterator[tuple[str, bytes]]:
    """(submission id, fingerprints) of other learners' work on the same assignment, newest first, at
    most `limit`, one per submission (its latest run); streamed, so a deadline can stop it early."""
    rows = session.execute(
        select(SubmissionWork.submission_id, SubmissionWork.fingerprints)
        .where(
            SubmissionWork.tenant_id == work.tenant_id,
            SubmissionWork.assignment_id == work.assignment_id,
            SubmissionWork.learner != work.learner,
            SubmissionWork.submission_id != work.submission_id,
        )
        .order_by(SubmissionWork.created_at.desc(), SubmissionWork.run.desc(), SubmissionWork.id)
        .execution_options(yield_per=200)
    )
    seen: set[str] = set()
    for submission_id, fingerprints in rows:
        if submission_id in seen:  # an older run of a submission already compared
            continue
        if len(seen) >= limit:
            return
        seen.add(submission_id)
        yield submission_id, fingerprints


def count_candidates(session: Session, work: SubmissionWork) -> int:
    return int(
        session.scalar(
            select(func.count(func.distinct(SubmissionWork.submission_id))).where(
                SubmissionWork.tenant_id == work.tenant_id,
                SubmissionWork.assignment_id == work.assignment_id,
                SubmissionWork.learner != work.learner,
                SubmissionWork.submission_id != work.submission_id,
            )
        )
        or 0
    )


# Reviews ------------------------------------------------------------------------------------------


def review_of_submission(session: Session, tenant_id: str, submission_id: str) -> Review | None:
    return session.scalar(select(Review).where(Review.tenant_id == tenant_id, Review.submission_id == submission_id))


def get_review(session: Session, tenant_id: str, review_id: str) -> Review | None:
    review = session.get(Review, review_id)
    return review if review is not None and review.tenant_id == tenant_id else None


def open_review(session: Session, tenant_id: str, submission_id: str, grade_id: str, flags: list[dict[str, object]]) -> Review:
    """The submission's review, opened pending with `flags` unless one exists (a re-run keeps the first)."""
    existing = review_of_submission(session, tenant_id, submission_id)
    if existing is not None:
        return existing
    review = Review(tenant_id=tenant_id, submission_id=submission_id, grade_id=grade_id, flags=flags)
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
    except IntegrityError:  # a concurrent run opened it first
        found = review_of_submission(session, tenant_id, submission_id)
        assert found is not None
        return found
    return review


def reviews_page(
    session: Session, tenant_id: str, state: ReviewState | None, offset: int, limit: int
) -> list[Review]:
    query = select(Review).where(Review.tenant_id == tenant_id)
    if state is not None:
        query = query.where(Review.state == state.value)
    return list(session.scalars(query.order_by(Review.created_at, Review.id).offset(offset).limit(limit)))


def settle_review(
    session: Session, review: Review, target: ReviewState, reason: str, decided_by: str, now: datetime | None = None
) -> bool:
    """Move a pending review to `target` (a conditional update: of two concurrent decisions one wins).
    Returns whether this call made the move."""
    result = session.execute(
        update(Review)
        .where(Review.id == review.id, Review.state == ReviewState.PENDING.value)
        .values(state=target.value, reason=reason, decided_by=decided_by, decided_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.refresh(review)
    return bool(getattr(result, "rowcount", 0))


def record_decision(session: Session, review: Review, approve: bool, reason: str, decided_by: str) -> ReviewState:
    """Record an instructor's decision on `review` and note it in the submission's history; returns the
    review's state after it. Raises ReviewConflict (grader.core.review) when it was already decided the
    other way (the same decision twice is harmless)."""
    target = decide(ReviewState(review.state), approve)
    if review.state == ReviewState.PENDING.value and not settle_review(session, review, target, reason, decided_by):
        decide(ReviewState(review.state), approve)  # another decision won meanwhile: this one must agree
    submission = session.get(Submission, review.submission_id)
    assert submission is not None
    detail = "approved: the credential is being issued" if approve else f"rejected: {review.reason}"
    submissions.record_event(session, submission, SubmissionState(submission.state), "review", "done", detail)
    return ReviewState(review.state)
