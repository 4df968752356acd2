"""The reconciler: the store is the source of truth, Redis only a way to hand out work. It puts back
whatever is open in the store but has no live job or holder: submissions (lost in a Redis restart, a
worker killed mid-job, an enqueue that failed after the API had committed), uploaded versions still
waiting for their check, webhook deliveries still pending, LMS grade passbacks still pending
(grader.jobs.passback.requeue_pending) and approved reviews still without their credential
(grader.jobs.review.requeue_unissued_approvals).

A submission whose worker died is found by its lease (grader.jobs.lease): not renewed for
`lease_ttl_s`, it is requeued at the next round even though Redis still lists its job as started.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.jobs import lease
from grader.jobs import passback as passback_jobs
from grader.jobs import review as review_jobs
from grader.jobs.queue import AllowlistJob, enqueue_check, enqueue_grading, enqueue_retry_delivery, job_alive
from grader.store import catalog, submissions
from grader.store.db import session_scope
from grader.store.models import TERMINAL_STATES, Submission, SubmissionState, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

# One kind of pending work, put back: (session, queue, settings, now) -> ids requeued.
Requeuer = Callable[[Session, Queue, Settings, datetime], list[str]]


def _drop_job(queue: Queue, job_id: str | None) -> None:
    """Forget a job whose worker is gone, so that it can be enqueued again under its id."""
    if not job_id:
        return
    with contextlib.suppress(NoSuchJobError):
        AllowlistJob.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()


def _requeue_submission(session: Session, queue: Queue, settings: Settings, submission: Submission, why: str) -> None:
    submission.job_id = enqueue_grading(queue, settings, submission.id, submission.run)
    submissions.record_event(session, submission, SubmissionState.QUEUED, "", "requeued", why)


def requeue_abandoned_submissions(session: Session, queue: Queue, settings: Settings, now: datetime) -> list[str]:
    """Submissions whose worker stopped renewing their lease: requeued now, whatever Redis says."""
    requeued = []
    for held in lease.expired_leases(session, "submission:", now):
        submission = session.get(Submission, held.resource.split(":", 1)[1])
        if submission is None or SubmissionState(submission.state) in TERMINAL_STATES:
            session.delete(held)
            continue
        # Handed to the next job (which may take a lease marked so), kept from the next round for a ttl.
        held.owner = lease.REQUEUED
        held.expires_at = now + timedelta(seconds=settings.lease_ttl_s)
        _drop_job(queue, submission.job_id)
        _requeue_submission(session, queue, settings, submission, "its worker stopped (lease expired); requeued")
        requeued.append(submission.id)
    return requeued


def requeue_lost_submissions(session: Session, queue: Queue, settings: Settings, now: datetime) -> list[str]:
    """Open submissions idle for `stuck_after_s` that no worker holds and whose job Redis no longer has."""
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    stuck = submissions.stuck_submissions(session, cutoff)
    held = lease.live_leases(session, [lease.submission_resource(s.id) for s in stuck], now)
    requeued = []
    for submission in stuck:
        if lease.submission_resource(submission.id) in held or job_alive(queue.connection, submission.job_id):
            continue
        _requeue_submission(session, queue, settings, submission, "job was lost; requeued")
        requeued.append(submission.id)
    return requeued


def requeue_unchecked_versions(session: Session, queue: Queue, settings: Settings, now: datetime) -> list[str]:
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    requeued = []
    for version in catalog.versions_to_check(session, cutoff):
        if job_alive(queue.connection, version.check_job_id):
            continue
        version.check_job_id = enqueue_check(queue, settings, version.id)
        requeued.append(version.id)
    return requeued


def requeue_pending_deliveries(session: Session, queue: Queue, settings: Settings, now: datetime, limit: int = 500) -> list[str]:
    """Pending webhook deliveries that nothing holds (no try running, no wait for the next one) and
    that are older than `stuck_after_s`: a fresh series of tries for each."""
    cutoff = now - timedelta(seconds=settings.stuck_after_s)
    pending = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.created_at < cutoff)
            .order_by(WebhookDelivery.created_at)
            .limit(limit)
        )
    )
    held = lease.live_leases(session, [lease.delivery_resource(d.id) for d in pending], now)
    requeued = []
    for delivery in pending:
        if lease.delivery_resource(delivery.id) in held:
            continue
        if enqueue_retry_delivery(queue, settings, delivery.id, delivery.attempts):
            requeued.append(delivery.id)
    return requeued


def requeuers() -> list[Requeuer]:
    """Every kind of work the reconciler puts back, each in its own transaction."""
    return [
        requeue_abandoned_submissions,
        requeue_lost_submissions,
        requeue_unchecked_versions,
        requeue_pending_deliveries,
        passback_jobs.requeue_pending,
        review_jobs.requeue_unissued_approvals,
    ]


def reconcile(
    factory: sessionmaker[Session], queue: Queue, settings: Settings, now: datetime | None = None
) -> list[str]:
    """Put back every kind of open work whose job or holder is gone; returns the ids requeued. Safe to
    run from many machines at once: a short Redis lock keeps two reconcilers from racing over the same
    rows (and the leases keep two workers from running one submission)."""
    lock = queue.connection.lock("grader:reconcile", timeout=120, blocking=False)
    if not lock.acquire(blocking=False):
        return []
    requeued: list[str] = []
    now = now or utcnow()
    try:
        for requeue in requeuers():
            # One transaction per kind: a failure of one (say, passback's) keeps the others' work.
            try:
                with session_scope(factory) as session:
                    requeued += requeue(session, queue, settings, now)
            except RedisError:
                raise
            except Exception as exc:
                log.warning("reconciler: %s failed: %s", getattr(requeue, "__name__", requeue), exc)
    finally:
        with contextlib.suppress(RedisError):
            lock.release()
    if requeued:
        log.warning("reconciler requeued %d item(s): %s", len(requeued), requeued)
    return requeued
