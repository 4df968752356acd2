"""What every job function works with: settings, the store's session factory, Redis and the queue,
built once per work-horse process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from rq import Queue, get_current_job
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings, get_settings
from grader.grading.ports import REAL_PORTS, GradingPorts
from grader.jobs.metrics import JobMetrics, RedisMetrics
from grader.jobs.services import Services, build_services


@dataclass(frozen=True)
class Context:
    """What a job function works with: the service's parts, the pipeline's ports and where metrics go.
    Tests of the worker's state machine build one with fake ports (tests/unit/fakes.py)."""

    settings: Settings
    factory: sessionmaker[Session]
    redis: Redis
    queue: Queue
    metrics: JobMetrics
    ports: GradingPorts = REAL_PORTS

    @classmethod
    def of(cls, services: Services, ports: GradingPorts = REAL_PORTS) -> Context:
        return cls(
            settings=services.settings,
            factory=services.factory,
            redis=services.redis,
            queue=services.queue,
            metrics=RedisMetrics(services.redis),
            ports=ports,
        )


@lru_cache(maxsize=1)
def context() -> Context:
    """Per process: built lazily, after rq has forked the work horse, never shared across a fork."""
    return Context.of(build_services(get_settings()))


def is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left
