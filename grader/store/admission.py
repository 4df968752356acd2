"""Admissions under concurrency: one writer at a time per learner and assignment, waiting only briefly.

A submission's policy (attempts, cooldown, rate limits) is a read of the learner's history followed by
a write; two requests that both read before either writes would both be admitted. So the read and the
write happen in one transaction that holds a lock from before the read until the commit:

- SQLite: `BEGIN IMMEDIATE` takes the database's write lock before the history is read (a deferred
  transaction could read, then find that another writer won). Within one process a lock queues the
  API's own threads, so they wait in turn instead of polling SQLite's busy handler against each other.
- PostgreSQL: a transaction-scoped advisory lock per (tenant, assignment, learner), then one per tenant
  around the rate counts (taken in that order by everyone, so no two wait on each other);
  `lock_timeout` bounds every wait.

A wait past the request's budget raises StoreBusy with nothing written, which the API answers with
503 and Retry-After. The unique index on (tenant, assignment, learner, attempt) is the backstop.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from grader.core.errors import SystemFault
from grader.store.db import make_engine, normalize_url


class StoreBusy(SystemFault):
    """The store's write lock (or another lock the request needed) was not obtained in time. Nothing
    was written: the same request, sent again, is safe."""

    code = "database-busy"


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(engine: Engine) -> threading.Lock:
    key = str(engine.url)
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(key, threading.Lock())


def _advisory_key(*parts: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock; a collision only makes two learners wait in turn."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _busy(wait_s: float) -> StoreBusy:
    return StoreBusy(f"the store is busy (its write lock was not free within {wait_s:g} s); nothing was saved, retry")


@contextmanager
def _sqlite_admission(session: Session, wait_s: float) -> Iterator[None]:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    lock = _process_lock(engine)
    started = time.monotonic()
    if not lock.acquire(timeout=wait_s):
        raise _busy(wait_s)
    try:
        if session.in_transaction():
            session.commit()  # whatever the session read so far: BEGIN must open a transaction of its own
        waited_s = time.monotonic() - started
        connection = session.connection()
        # The connection waits `wait_s` for SQLite's lock (request_engine); what the queue here took
        # comes off that, for this BEGIN only.
        shortened = waited_s > wait_s / 10
        if shortened:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int((wait_s - waited_s) * 1000))}")
        refused: OperationalError | None = None
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            refused = exc
        if shortened:  # the connection goes back to the pool with its own timeout
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int(wait_s * 1000))}")
        if refused is not None:
            session.rollback()
            raise _busy(wait_s) from refused
        with _committed(session, wait_s):
            yield
    finally:
        lock.release()


@contextmanager
def _postgres_admission(session: Session, wait_s: float, key: int) -> Iterator[None]:
    try:
        session.connection().exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(wait_s * 1000))}ms'")
        session.execute(select(func.pg_advisory_xact_lock(key)))
    except OperationalError as exc:
        session.rollback()
        raise _busy(wait_s) from exc
    with _committed(session, wait_s):
        yield


@contextmanager
def _committed(session: Session, wait_s: float) -> Iterator[None]:
    """Commit when the body ends, roll back when it raises; a commit the database refuses is StoreBusy
    (rolled back: nothing of it stays)."""
    try:
        yield
    except OperationalError as exc:  # a lock timed out (or the connection went) under the body: nothing stays
        session.rollback()
        raise _busy(wait_s) from exc
    except BaseException:
        session.rollback()
        raise
    try:
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise _busy(wait_s) from exc


@contextmanager
def admission(session: Session, tenant_id: str, assignment_id: str, learner: str, wait_s: float) -> Iterator[None]:
    """Run the body in a transaction that holds this learner's admission lock for this assignment, and
    commit it when the body ends (roll it back when the body raises). Raises StoreBusy when the lock is not obtained
    within `wait_s` seconds; nothing has been written then."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        with _sqlite_admission(session, wait_s):
            yield
    elif dialect == "postgresql":
        with _postgres_admission(session, wait_s, _advisory_key("admission", tenant_id, assignment_id, learner)):
            yield
    else:  # another backend: the unique index on attempt numbers still refuses a duplicate
        with _committed(session, wait_s):
            yield


def lock_tenant_rates(session: Session, tenant_id: str, wait_s: float) -> None:
    """Within an admission: serialise the tenant's rate counts (PostgreSQL; SQLite's write lock already
    covers the whole database). Raises StoreBusy when not obtained in time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    try:
        session.execute(select(func.pg_advisory_xact_lock(_advisory_key("rates", tenant_id))))
    except OperationalError as exc:
        session.rollback()
        raise _busy(wait_s) from exc


def _sqlite_wait(wait_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {wait_ms}")
        cursor.close()

    return on_connect


def _postgres_wait(wait_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {wait_ms}")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    return on_connect


@lru_cache(maxsize=8)
def request_engine(url: str, wait_s: float) -> Engine:
    """An engine for the API's requests: any wait for a database lock ends after `wait_s` seconds (a
    request answers 503 then) instead of the workers' 30 s."""
    # As many connections as the API has pool threads (40), so a request never queues for one behind
    # others; and should it have to, no longer than it would wait for a lock.
    engine = make_engine(url, pool_size=20, max_overflow=20, pool_timeout=wait_s)
    wait_ms = max(1, int(wait_s * 1000))
    dialect = normalize_url(url).split(":", 1)[0].split("+", 1)[0]
    if dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_wait(wait_ms))
    elif dialect == "postgresql":
        event.listen(engine, "connect", _postgres_wait(wait_ms))
    return engine
