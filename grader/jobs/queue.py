"""The job queue: rq on Redis, JSON serializer, an allowlist of job functions, ids as the only argument.

A job carries nothing but an id; everything else is read from the store when the job runs, so a
queued job can never smuggle in a function, a pickled object or stale data. The reconciler puts
back any submission that is open in the store but whose job Redis no longer has (lost in a Redis
restart, a worker killed mid-job, an enqueue that failed after the API had committed).
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from grader.config import Settings
from grader.core.errors import SystemFault
from grader.core.webhook_signing import backoff_intervals

log = logging.getLogger(__name__)

GRADE_JOB = "grader.jobs.grading.grade_submission"
DELIVER_JOB = "grader.jobs.delivery.deliver_webhook"
CHECK_JOB = "grader.jobs.checking.check_version"
PASSBACK_JOB = "grader.jobs.passback.send_passback"
REVIEW_JOB = "grader.jobs.review.issue_approved"  # the credential of a review an instructor approved
ALLOWED_JOBS = frozenset({GRADE_JOB, DELIVER_JOB, CHECK_JOB, PASSBACK_JOB, REVIEW_JOB})
_ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


class JobNotAllowed(SystemFault, RuntimeError):
    """A job named a function outside the allowlist (a forged or foreign job): refused, never run."""

    code = "job-not-allowed"


class AllowlistJob(Job):
    """An rq Job that resolves only allowlisted functions and takes exactly one string argument."""

    @property
    def func(self) -> Any:
        name = self.func_name
        if name not in ALLOWED_JOBS:
            raise JobNotAllowed(f"job function {name!r} is not on the allowlist")
        if len(self.args) != 1 or not isinstance(self.args[0], str) or self.kwargs:
            raise JobNotAllowed(f"job {self.id} must take exactly one id argument")
        return super().func


def connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def make_queue(settings: Settings, connection: Redis) -> Queue:
    return Queue(
        settings.queue_name,
        connection=connection,
        serializer=JSONSerializer,
        job_class=AllowlistJob,
        default_timeout=settings.job_timeout_s,
    )


def grade_job_id(submission_id: str, run: int) -> str:
    return f"grade-{submission_id}-r{run}"


def _replace(queue: Queue, job_id: str, func: str, arg: str, retry: Retry, timeout: int) -> str:
    """Enqueue under a fixed id, first removing a dead job of that id so that it runs once."""
    try:
        old = AllowlistJob.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
    except NoSuchJobError:
        old = None
    if old is not None:
        if old.get_status(refresh=True) in _ALIVE:
            return job_id
        old.delete()
    queue.enqueue(func, arg, job_id=job_id, retry=retry, job_timeout=timeout, result_ttl=3600, failure_ttl=86400)
    return job_id


def enqueue_grading(queue: Queue, settings: Settings, submission_id: str, run: int) -> str:
    retry = Retry(max=settings.job_retries, interval=backoff_intervals(settings.job_retries, settings.job_retry_base_s))
    return _replace(queue, grade_job_id(submission_id, run), GRADE_JOB, submission_id, retry, settings.job_timeout_s)


def enqueue_new_grading(queue: Queue, settings: Settings, submission_id: str) -> str:
    """The first run of a submission just committed: its id is new, so no job of that id can exist yet
    and it is enqueued without first looking for one (the API's submit path: one round trip fewer)."""
    retry = Retry(max=settings.job_retries, interval=backoff_intervals(settings.job_retries, settings.job_retry_base_s))
    job_id = grade_job_id(submission_id, 1)
    queue.enqueue(
        GRADE_JOB,
        submission_id,
        job_id=job_id,
        retry=retry,
        job_timeout=settings.job_timeout_s,
        result_ttl=3600,
        failure_ttl=86400,
    )
    return job_id


def enqueue_review_issue(queue: Queue, settings: Settings, review_id: str) -> str:
    """The issue stage of an approved review (grader.jobs.review), once per review."""
    retry = Retry(max=settings.job_retries, interval=backoff_intervals(settings.job_retries, settings.job_retry_base_s))
    return _replace(queue, review_job_id(review_id), REVIEW_JOB, review_id, retry, 300)


def review_job_id(review_id: str) -> str:
    return f"review-{review_id}"


def check_job_id(version_id: str) -> str:
    return f"check-{version_id}"


def enqueue_check(queue: Queue, settings: Settings, version_id: str) -> str:
    """The check of an uploaded version: the reference and every known-bad solution graded in turn, so
    it may take a few grading jobs' time."""
    retry = Retry(max=settings.job_retries, interval=backoff_intervals(settings.job_retries, settings.job_retry_base_s))
    return _replace(queue, check_job_id(version_id), CHECK_JOB, version_id, retry, settings.job_timeout_s * 4)


def enqueue_delivery(queue: Queue, settings: Settings, delivery_id: str, round_: int = 0) -> str:
    """A delivery job; `round_` distinguishes a manual redelivery from the first series of tries."""
    retry = Retry(
        max=settings.webhook_retries,
        interval=backoff_intervals(settings.webhook_retries, settings.webhook_retry_base_s),
    )
    return _replace(queue, f"webhook-{delivery_id}-{round_}", DELIVER_JOB, delivery_id, retry, 60)


def retry_delivery_job_id(delivery_id: str, attempts: int) -> str:
    return f"webhook-{delivery_id}-a{attempts}"


def enqueue_retry_delivery(queue: Queue, settings: Settings, delivery_id: str, attempts: int) -> bool:
    """A fresh series of tries for a pending delivery the reconciler found idle (its job lost with Redis,
    or its last series over while the receiver was still down); False when that series is queued
    already."""
    job_id = retry_delivery_job_id(delivery_id, attempts)
    if job_alive(queue.connection, job_id):
        return False
    retry = Retry(
        max=settings.webhook_retries,
        interval=backoff_intervals(settings.webhook_retries, settings.webhook_retry_base_s),
    )
    _replace(queue, job_id, DELIVER_JOB, delivery_id, retry, 60)
    return True


def passback_job_id(passback_id: str, revision: int, tries: int) -> str:
    """A fresh id for each round of an LMS passback (its revision and tries so far), so a finished
    round never blocks the next."""
    return f"passback-{passback_id}-r{revision}-t{tries}"


def enqueue_passback(
    queue: Queue, settings: Settings, passback_id: str, revision: int, tries: int, current_job_id: str | None
) -> str:
    """A round of tries for a passback's pending score, unless a job for this revision is alive (a re-run
    grading job, a reconciler pass). A new revision gets its own job even while an older one waits for
    a retry: the passback's claim keeps them from sending at once, and each sends what is pending."""
    same_revision = f"passback-{passback_id}-r{revision}-"
    if current_job_id and current_job_id.startswith(same_revision) and job_alive(queue.connection, current_job_id):
        return current_job_id
    retry = Retry(
        max=settings.lti_passback_retries,
        interval=backoff_intervals(settings.lti_passback_retries, settings.lti_passback_retry_base_s),
    )
    return _replace(queue, passback_job_id(passback_id, revision, tries), PASSBACK_JOB, passback_id, retry, 120)


def job_alive(connection: Redis, job_id: str | None) -> bool:
    if not job_id:
        return False
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=True) in _ALIVE


def queue_depth(queue: Queue) -> dict[str, int]:
    """How many jobs wait, run, wait for a retry, and failed for good."""
    connection = queue.connection
    name = queue.name
    return {
        "queued": queue.count,
        "started": StartedJobRegistry(name, connection=connection).count,
        "scheduled": ScheduledJobRegistry(name, connection=connection).count,  # type: ignore[no-untyped-call]
        "failed": FailedJobRegistry(name, connection=connection).count,
    }
