"""The passback job: one try of sending one learner's score to one placement's line item, retried by
the queue with the webhooks' backoff (grader.lti.passback does the try itself). The grading job calls
`record_passbacks` after its notify stage; the reconciler calls `requeue_pending` for rounds whose job
was lost or whose retries ran out while the platform was still down."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.errors import SystemFault
from grader.core.webhook_signing import backoff_intervals
from grader.jobs.context import Context, context, is_last_try
from grader.jobs.queue import PASSBACK_JOB, AllowlistJob, job_alive
from grader.lti import passback
from grader.lti.outbound import platform_client
from grader.lti.token import RedisTokenCache
from grader.store import passbacks
from grader.store.db import session_scope
from grader.store.models import LtiPassback, Submission

log = logging.getLogger(__name__)

JOB_TIMEOUT_S = 120


class PassbackFailed(SystemFault, RuntimeError):
    """A passback try failed (the platform is down or busy); raised so rq schedules the next try."""

    code = "passback-failed"


def passback_job_id(row: LtiPassback) -> str:
    """A fresh id for each round (revision and tries so far), so a finished round never blocks the next."""
    return f"passback-{row.id}-r{row.revision}-t{row.tries}"


def enqueue_passback(queue: Queue, settings: Settings, row: LtiPassback) -> str:
    """Enqueue a round of tries for the row's pending score, unless a job for this revision is alive
    (a re-run grading job, a reconciler pass). A new revision gets its own job even while an older
    one waits for a retry: the claim keeps them from sending at once, and each sends what is pending."""
    same_revision = f"passback-{row.id}-r{row.revision}-"
    if row.job_id and row.job_id.startswith(same_revision) and job_alive(queue.connection, row.job_id):
        return row.job_id
    job_id = passback_job_id(row)
    if job_alive(queue.connection, job_id):
        return job_id
    with contextlib.suppress(NoSuchJobError):
        AllowlistJob.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()
    retry = Retry(
        max=settings.lti_passback_retries,
        interval=backoff_intervals(settings.lti_passback_retries, settings.lti_passback_retry_base_s),
    )
    queue.enqueue(
        PASSBACK_JOB,
        row.id,
        job_id=job_id,
        retry=retry if settings.lti_passback_retries else None,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=3600,
        failure_ttl=86400,
    )
    return job_id


def send_passback(passback_id: str) -> str:
    """One try; raises PassbackFailed for a failure worth another try, so rq retries with backoff."""
    ctx = context()
    return run_passback(ctx, passback_id, ctx.redis)


def run_passback(ctx: Context, passback_id: str, redis: Redis) -> str:
    with platform_client(ctx.settings) as http:
        result = passback.try_send(
            ctx.factory, ctx.settings, passback_id, http, RedisTokenCache(redis), final=is_last_try()
        )
    if result.retry:
        raise PassbackFailed(f"passback {passback_id}: {result.outcome.value}: {result.detail}"[:1000])
    if result.outcome is passback.Outcome.FAILED:
        log.warning("passback %s refused for good: %s", passback_id, result.detail)
    return result.outcome.value


def record_passbacks(ctx: Context, submission_id: str) -> list[str]:
    """The grading job's hook: record the new grade in the learner's passbacks (only when the learner
    came from an LTI launch) and enqueue those whose score changed. Returns the job ids."""
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            return []
        rows = passback.record(session, ctx.settings, submission)
        if not rows:
            return []
        jobs = []
        for row in rows:
            try:
                row.job_id = enqueue_passback(ctx.queue, ctx.settings, row)
            except RedisError as exc:
                # The row is in the store, pending: the reconciler enqueues it once Redis is back. A grade
                # that stands is not failed for a queue that is down.
                log.warning("passback %s not enqueued (%s); the reconciler will", row.id, exc)
                continue
            jobs.append(row.job_id)
    return jobs


def requeue_pending(session: Session, queue: Queue, settings: Settings, now: datetime) -> list[str]:
    """For the reconciler: pending passbacks overdue by `stuck_after_s` with no live job get a new round."""
    requeued = []
    for row in passbacks.due_passbacks(session, now - timedelta(seconds=settings.stuck_after_s)):
        if job_alive(queue.connection, row.job_id):
            continue
        if row.claimed_until is not None and row.claimed_until > now:
            continue
        row.job_id = enqueue_passback(queue, settings, row)
        requeued.append(row.id)
    return requeued
