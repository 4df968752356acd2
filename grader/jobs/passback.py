"""The passback job: one try of sending one learner's score to one placement's line item, retried by
the queue with the webhooks' backoff (grader.lti.passback does the try itself). The grading job calls
`record_passbacks` after its notify stage; the reconciler calls `requeue_pending` for rounds whose job
was lost or whose retries ran out while the platform was still down."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.errors import SystemFault
from grader.jobs.context import Context, context, is_last_try
from grader.jobs.queue import enqueue_passback as queue_passback
from grader.jobs.queue import job_alive
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


def enqueue_passback(queue: Queue, settings: Settings, row: LtiPassback) -> str:
    """grader.jobs.queue.enqueue_passback for a row."""
    return queue_passback(queue, settings, row.id, row.revision, row.tries, row.job_id)


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
