"""What every job function works with: settings, the store's session factory, Redis and the queue,
built once per work-horse process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from rq import Queue, get_current_job
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings, get_settings
from grader.jobs import queue as jobs
from grader.store.db import engine_for, session_factory


@dataclass(frozen=True)
class Context:
    settings: Settings
    factory: sessionmaker[Session]
    redis: Redis
    queue: Queue


@lru_cache(maxsize=1)
def context() -> Context:
    """Per process: built lazily, after rq has forked the work horse, never shared across a fork."""
    settings = get_settings()
    factory = session_factory(engine_for(settings.resolved_database_url()))
    redis = jobs.connect(settings.redis_url)
    return Context(settings=settings, factory=factory, redis=redis, queue=jobs.make_queue(settings, redis))


def is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left
