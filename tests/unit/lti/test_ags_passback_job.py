"""The passback job in the service's path, with a real Redis (started for this module) and a real
SQLite store: the grading job of a learner who came from a launch records the passback and enqueues
its job (an allowlisted function with the row's id); the job's tries share one token through Redis;
a round that ends with the platform down is put back by the reconciler's requeuer, and the score
arrives once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from grader.jobs import grading
from grader.jobs import passback as passback_jobs
from grader.jobs.context import Context
from grader.jobs.queue import PASSBACK_JOB, connect, make_queue
from grader.store.db import session_scope
from grader.store.models import LtiPassback, PassbackStatus, Submission
from grader.store.submissions import insert_submission
from tests.integration.test_service_stack import running_services
from tests.unit.fakes import RecordedMetrics, fake_ports
from tests.unit.lti.lms_store import FakePlatform, placement

pytestmark = pytest.mark.integration
ANN = "ann@example.org"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_services(postgres=False) as services:
        yield services.redis_url


def test_grading_records_and_enqueues_and_the_job_delivers_once(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = placement(tmp_path)
    p.user(ANN, "lms-ann")
    settings = p.settings.model_copy(update={"redis_url": redis_url, "queue_name": f"passback-{uuid.uuid4().hex[:8]}"})
    redis = connect(redis_url)
    ctx = Context(settings=settings, factory=p.factory, redis=redis, queue=make_queue(settings, redis),
                  metrics=RecordedMetrics(), ports=fake_ports())
    with session_scope(p.factory) as session:
        row = insert_submission(session, Submission(
            tenant_id=p.tenant_id, assignment_id=p.assignment_id, assignment_version_id=p.version_id,
            learner=ANN, repo_url="https://git.example/ann/ledger.git", attempt=1, request_hash="x",
        ))
        assert row is not None
        submission_id = row.id
    assert grading.run_grading(ctx, submission_id) == "graded"
    with session_scope(p.factory) as session:
        (passback,) = session.query(LtiPassback).all()
        assert passback.status == PassbackStatus.PENDING and passback.submission_id == submission_id
        assert passback.score_maximum > 0 and passback.job_id
        passback_id, job_id = passback.id, passback.job_id
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.func_name == PASSBACK_JOB and list(job.args) == [passback_id]

    platform = FakePlatform(score_down=1)
    monkeypatch.setattr(passback_jobs, "platform_client", lambda s: httpx.Client(transport=httpx.MockTransport(platform.handler)))
    # Outside a worker every try is a round's last: the failure waits for the reconciler's next round.
    with pytest.raises(passback_jobs.PassbackFailed):
        passback_jobs.run_passback(ctx, passback_id, redis)
    assert passback_jobs.record_passbacks(ctx, submission_id) == [job_id]  # a re-run grading job: that same job
    job.delete()  # the round's job is over (here: lost); the row still waits for its score
    with session_scope(p.factory) as session:
        waiting = session.get(LtiPassback, passback_id)
        assert waiting is not None and waiting.status == PassbackStatus.PENDING and waiting.next_attempt_at is not None
        due = waiting.next_attempt_at + timedelta(seconds=settings.stuck_after_s + 1)
        assert passback_jobs.requeue_pending(session, ctx.queue, settings, due - timedelta(hours=2)) == []
        assert passback_jobs.requeue_pending(session, ctx.queue, settings, due) == [passback_id]
        new_job = waiting.job_id
    assert new_job and new_job != job_id
    assert list(Job.fetch(new_job, connection=redis, serializer=JSONSerializer).args) == [passback_id]
    assert passback_jobs.run_passback(ctx, passback_id, redis) == "delivered"
    assert passback_jobs.run_passback(ctx, passback_id, redis) == "unchanged"
    assert len(platform.scores) == 1 and len(platform.posts) == 2
    assert platform.token_requests == 1  # the second try took the token from Redis
