"""The credential of an approved review: the worker's own issue stage, run once.

An instructor's decision is recorded by the API (grader.store.authenticity.record_decision: a
conditional move out of `pending`, so of two concurrent decisions one wins); an approval then queues
`issue_approved` with the review's id. It runs grader.grading.issue.issue_stage with the tenant's
SubmissionIssuer, exactly as the grading job's issue stage does, which keeps at most one credential per
submission: a retried or repeated job issues what is missing and nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.review import ReviewState
from grader.jobs import queue as jobs
from grader.jobs.context import Context, context
from grader.jobs.history import event
from grader.jobs.tenant_issuer import issue_once
from grader.notify import webhooks
from grader.store.db import session_scope
from grader.store.models import CredentialRecord, Review, Submission, SubmissionState


def issue_approved(review_id: str) -> str | None:
    """The queue's job: issue the credential of an approved review. Returns the credential's row id."""
    return run_issue_approved(context(), review_id)


def run_issue_approved(ctx: Context, review_id: str) -> str | None:
    """Issue the credential of `review_id` if it is approved (and none exists yet); None when the review
    is not approved, or the issue rule or the issuer gave none (the submission's history says why)."""
    with session_scope(ctx.factory) as session:
        review = session.get(Review, review_id)
        if review is None or review.state != ReviewState.APPROVED.value:
            return None
        submission_id, grade_id = review.submission_id, review.grade_id

    def on_event(stage: str, status: str, detail: str) -> None:
        if status in ("start", "done", "fail", "skipped"):  # the submission stays graded meanwhile
            event(ctx, submission_id, SubmissionState.GRADED, stage, status, detail)

    credential_id, new = issue_once(ctx, submission_id, grade_id, on_event)
    if new and credential_id is not None:
        _announce(ctx, submission_id, credential_id)
    return credential_id


def _announce(ctx: Context, submission_id: str, credential_id: str) -> None:
    with session_scope(ctx.factory) as session:
        credential = session.get(CredentialRecord, credential_id)
        submission = session.get(Submission, submission_id)
        assert credential is not None and submission is not None
        deliveries = webhooks.emit(
            session,
            submission.tenant_id,
            "credential.issued",
            f"{credential.id}.issued",
            {"credential_id": credential.id, "id": credential.credential_id, "submission_id": submission.id},
        )
        ids = [d.id for d in deliveries]
    for delivery_id in ids:
        jobs.enqueue_delivery(ctx.queue, ctx.settings, delivery_id)


def requeue_unissued_approvals(session: Session, queue: Queue, settings: Settings, now: datetime) -> list[str]:
    """For the reconciler: reviews approved more than `stuck_after_s` ago whose submission has no
    credential and whose issue job is gone (Redis was down when the approval was sent, or restarted
    since) get their job again. Returns the reviews' ids."""
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    waiting = session.scalars(
        select(Review)
        .outerjoin(CredentialRecord, CredentialRecord.submission_id == Review.submission_id)
        .where(Review.state == ReviewState.APPROVED.value, Review.decided_at < cutoff, CredentialRecord.id.is_(None))
        .order_by(Review.decided_at)
        .limit(500)
    )
    requeued = []
    for review in waiting:
        if jobs.job_alive(queue.connection, jobs.review_job_id(review.id)):
            continue
        jobs.enqueue_review_issue(queue, settings, review.id)
        requeued.append(review.id)
    return requeued
