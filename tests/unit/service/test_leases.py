"""Worker leases (grader.jobs.lease) on a real SQLite store: one holder at a time, a lease that runs
out is anyone's, the reconciler's hand-on is taken by the next job, a heartbeat keeps it alive."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from grader.jobs import lease
from grader.store.db import make_engine, session_factory, session_scope, upgrade
from grader.store.models import Lease, utcnow


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'leases.db'}"
    upgrade(url)
    return session_factory(make_engine(url))


def test_one_holder_at_a_time_until_the_lease_runs_out(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with session_scope(factory) as session:
        assert lease.take(session, "submission:a", "worker-1", 30, now)
    with session_scope(factory) as session:
        assert not lease.take(session, "submission:a", "worker-2", 30, now + timedelta(seconds=29))
        assert lease.take(session, "submission:a", "worker-1", 30, now + timedelta(seconds=29))  # a renewal
    with session_scope(factory) as session:
        # worker-1 renewed at +29 s, so its lease now runs to +59 s.
        assert not lease.take(session, "submission:a", "worker-2", 30, now + timedelta(seconds=58))
        assert lease.take(session, "submission:a", "worker-2", 30, now + timedelta(seconds=60))
    with session_scope(factory) as session:
        held = session.get(Lease, "submission:a")
        assert held is not None and held.owner == "worker-2"


def test_a_lease_handed_on_by_the_reconciler_is_taken_by_the_next_job(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with session_scope(factory) as session:
        lease.hold(session, "submission:b", lease.REQUEUED, now + timedelta(seconds=60))
    with session_scope(factory) as session:
        assert lease.take(session, "submission:b", "worker-3", 30, now)
    with session_scope(factory) as session:
        assert not lease.take(session, "submission:b", "worker-4", 30, now)


def test_live_and_expired_leases(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with session_scope(factory) as session:
        lease.hold(session, "submission:live", "w", now + timedelta(seconds=10))
        lease.hold(session, "submission:dead", "w", now - timedelta(seconds=1))
        lease.hold(session, "delivery:dead", "w", now - timedelta(seconds=1))
    with session_scope(factory) as session:
        names = ["submission:live", "submission:dead", "submission:none"]
        assert lease.live_leases(session, names, now) == {"submission:live"}
        assert [h.resource for h in lease.expired_leases(session, "submission:", now)] == ["submission:dead"]
        lease.release(session, "submission:dead", owner="someone-else")
    with session_scope(factory) as session:
        assert session.get(Lease, "submission:dead") is not None  # only its owner's release removes it
        lease.release(session, "submission:dead", owner="w")
    with session_scope(factory) as session:
        assert session.get(Lease, "submission:dead") is None


def test_holding_renews_in_the_background_and_gives_the_lease_up(factory: sessionmaker[Session]) -> None:
    with lease.holding(factory, "submission:c", 1.0) as held:
        assert held
        with session_scope(factory) as session:
            first = session.get(Lease, "submission:c")
            assert first is not None
            expires = first.expires_at
        with lease.holding(factory, "submission:c", 1.0) as second:
            assert not second  # another live holder: nothing held
        time.sleep(0.8)  # beyond a quarter of the ttl: renewed meanwhile
        with session_scope(factory) as session:
            renewed = session.get(Lease, "submission:c")
            assert renewed is not None and renewed.expires_at > expires
    with session_scope(factory) as session:
        assert session.get(Lease, "submission:c") is None
