"""The composition root of the service: the store's session factory, Redis and the queue, built from the
settings in one place for the API, the workers, the pool and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from grader.config import Settings
from grader.jobs.queue import connect, make_queue
from grader.store.db import engine_for, session_factory


@dataclass(frozen=True)
class Services:
    settings: Settings
    factory: sessionmaker[Session]
    redis: Redis
    queue: Queue


def store_sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the store the settings name (no Redis needed)."""
    return session_factory(engine_for(settings.resolved_database_url()))


def build_services(settings: Settings) -> Services:
    """Connects lazily: nothing here talks to Redis or the database until first used."""
    redis = connect(settings.redis_url)
    return Services(settings=settings, factory=store_sessions(settings), redis=redis, queue=make_queue(settings, redis))
