"""What every job function works with: settings, the store's session factory, Redis and the queue,
built once per work-horse process."""

from __future__ import annotations

from functools import lru_cache

from rq import get_current_job

from grader.config import get_settings
from grader.jobs.services import Services, build_services

Context = Services  # what a job function works with


@lru_cache(maxsize=1)
def context() -> Context:
    """Per process: built lazily, after rq has forked the work horse, never shared across a fork."""
    return build_services(get_settings())


def is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left
