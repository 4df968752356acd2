"""Worker leases: a job holds its piece of work in the store, and renews the hold while it runs.

A grading job takes the lease of its submission ("submission:<id>") before it starts and renews it
every `lease_ttl_s / 4` seconds from a background thread; a delivery try holds its delivery the same
way, and a delivery waiting for its next try is held until that try is due. A worker that is killed
stops renewing, its lease runs out within `lease_ttl_s`, and the reconciler gives the work to another
worker (docs/faults.md has the bound). Two jobs never hold one lease at once: taking it is one
conditional UPDATE (or an INSERT that the primary key lets only one writer win).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from grader.sandbox.workspaces import host_name, process_token
from grader.store.db import session_scope
from grader.store.models import Lease, utcnow

log = logging.getLogger(__name__)

# The owner of a lease the reconciler has handed to a new job: the first job to come takes it.
REQUEUED = "requeued-by-reconciler"


def submission_resource(submission_id: str) -> str:
    return f"submission:{submission_id}"


def delivery_resource(delivery_id: str) -> str:
    return f"delivery:{delivery_id}"


def new_owner() -> str:
    """A holder's name: the host and process (for people reading the table) and a random part."""
    return f"{host_name()}/{process_token()}/{secrets.token_hex(4)}"[:120]


def take(session: Session, resource: str, owner: str, ttl_s: float, now: datetime | None = None) -> bool:
    """Take (or renew) the lease of `resource` for `owner` until now + ttl; False when someone else holds
    a lease that has not run out. A lease the reconciler handed on (REQUEUED) is anyone's. Flushes; the
    caller commits."""
    now = now or utcnow()
    until = now + timedelta(seconds=ttl_s)
    free = (Lease.expires_at < now) | (Lease.owner == owner) | (Lease.owner == REQUEUED)
    taken = session.execute(
        update(Lease)
        .where(Lease.resource == resource, free)
        .values(owner=owner, expires_at=until, acquired_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        return True
    try:
        with session.begin_nested():
            session.add(Lease(resource=resource, owner=owner, expires_at=until, acquired_at=now))
    except IntegrityError:
        return False  # a live lease of someone else's
    return True


def hold(session: Session, resource: str, owner: str, until: datetime) -> None:
    """Keep `resource` held by `owner` until `until` (a wait before the next try): whoever holds it now."""
    found = session.get(Lease, resource)
    if found is None:
        session.add(Lease(resource=resource, owner=owner, expires_at=until, acquired_at=utcnow()))
    else:
        found.owner, found.expires_at = owner, until
    session.flush()


def release(session: Session, resource: str, owner: str | None = None) -> None:
    """Give the lease up (only `owner`'s, when given)."""
    statement = delete(Lease).where(Lease.resource == resource)
    if owner is not None:
        statement = statement.where(Lease.owner == owner)
    session.execute(statement.execution_options(synchronize_session=False))


def live_leases(session: Session, resources: list[str], now: datetime) -> set[str]:
    """Which of `resources` someone holds now."""
    found: set[str] = set()
    for start in range(0, len(resources), 500):
        chunk = resources[start : start + 500]
        found.update(
            session.scalars(select(Lease.resource).where(Lease.resource.in_(chunk), Lease.expires_at >= now))
        )
    return found


def expired_leases(session: Session, prefix: str, now: datetime, limit: int = 500) -> list[Lease]:
    """Leases of `prefix` ("submission:") that have run out: their holders died or their wait is over."""
    return list(
        session.scalars(
            select(Lease)
            .where(Lease.resource.startswith(prefix, autoescape=True), Lease.expires_at < now)
            .order_by(Lease.expires_at)
            .limit(limit)
        )
    )


class Heartbeat(threading.Thread):
    """Renews a lease every `interval_s` until stopped; notes when the lease was lost to another worker."""

    def __init__(self, factory: sessionmaker[Session], resource: str, owner: str, ttl_s: float) -> None:
        super().__init__(daemon=True, name=f"lease {resource}")
        self.factory, self.resource, self.owner, self.ttl_s = factory, resource, owner, ttl_s
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(max(self.ttl_s / 4, 0.2)):
            try:
                with session_scope(self.factory) as session:
                    renewed = session.execute(
                        update(Lease)
                        .where(Lease.resource == self.resource, Lease.owner == self.owner)
                        .values(expires_at=utcnow() + timedelta(seconds=self.ttl_s))
                        .execution_options(synchronize_session=False)
                    )
                    if not renewed.rowcount:  # type: ignore[attr-defined]
                        self.lost.set()
            except SQLAlchemyError as exc:  # the store is down: try again at the next beat
                log.warning("could not renew the lease of %s: %s", self.resource, exc)


@contextlib.contextmanager
def holding(factory: sessionmaker[Session], resource: str, ttl_s: float) -> Iterator[bool]:
    """Hold `resource` for the block, renewed in the background; yields False (and holds nothing) when
    another live worker has it. The lease is given up afterwards, whatever happens."""
    owner = new_owner()
    with session_scope(factory) as session:
        taken = take(session, resource, owner, ttl_s)
    if not taken:
        yield False
        return
    beat = Heartbeat(factory, resource, owner, ttl_s)
    beat.start()
    try:
        yield True
    finally:
        beat.stopped.set()
        beat.join(timeout=5)
        with contextlib.suppress(SQLAlchemyError), session_scope(factory) as session:
            release(session, resource, owner)
