"""The reconciler: puts back what is open in the store but has no job in Redis (lost in a Redis restart,
a worker killed mid-job, an enqueue that failed after the API had committed): submissions, and
uploaded versions still waiting for their check."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.jobs.queue import enqueue_check, enqueue_grading, job_alive
from grader.store import catalog, submissions
from grader.store.db import session_scope
from grader.store.models import SubmissionState, utcnow

log = logging.getLogger(__name__)


def reconcile(
    factory: sessionmaker[Session], queue: Queue, settings: Settings, now: datetime | None = None
) -> list[str]:
    """Re-enqueue open submissions and unchecked versions whose job is gone; returns their ids. Safe to run from many
    machines at once: a short Redis lock keeps two reconcilers from racing over the same rows."""
    lock = queue.connection.lock("grader:reconcile", timeout=120, blocking=False)
    if not lock.acquire(blocking=False):
        return []
    requeued: list[str] = []
    try:
        cutoff = (now or utcnow()) - timedelta(seconds=settings.stuck_after_s)
        with session_scope(factory) as session:
            for submission in submissions.stuck_submissions(session, cutoff):
                if job_alive(queue.connection, submission.job_id):
                    continue
                submission.job_id = enqueue_grading(queue, settings, submission.id, submission.run)
                submissions.record_event(session, submission, SubmissionState.QUEUED, "", "requeued", "job was lost; requeued")
                requeued.append(submission.id)
            for version in catalog.versions_to_check(session, cutoff):
                if job_alive(queue.connection, version.check_job_id):
                    continue
                version.check_job_id = enqueue_check(queue, settings, version.id)
                requeued.append(version.id)
    finally:
        with contextlib.suppress(RedisError):
            lock.release()
    if requeued:
        log.warning("reconciler requeued %d submissions: %s", len(requeued), requeued)
    return requeued
