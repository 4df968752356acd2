"""The worker against real Redis, Docker and git: infrastructure faults retry then stop in `error`;
a finished submission's duplicate job changes nothing; a forged job is refused by the allowlist."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from grader.config import Settings, get_settings
from grader.core.spec import load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.jobs import checking, context, grading
from grader.jobs import queue as jobs
from grader.jobs.reconciler import reconcile
from grader.store import catalog, submissions, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import engine_for, session_factory, session_scope, upgrade
from grader.store.models import AssignmentVersion, GradeRecord, Submission, SubmissionEvent
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS
from tests.integration.test_service_stack import Services, redis_service

pytestmark = pytest.mark.integration
__all__ = ["redis_service"]

Configure = Callable[..., Settings]


@pytest.fixture
def configure(
    redis_service: Services, git_server: LoopbackGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Configure]:
    """Point this process's settings (which the job functions read) at a fresh store and queue."""

    def apply(**overrides: str) -> Settings:
        values = {
            "GRADER_HOME": str(tmp_path / "home"),
            "GRADER_REDIS_URL": redis_service.redis_url,
            "GRADER_QUEUE_NAME": f"worker-test-{uuid.uuid4().hex[:8]}",
            "GRADER_ALLOWED_HOSTS": f'["{git_server.host}"]',
            "GRADER_ALLOWED_SCHEMES": '["http", "https"]',
            **overrides,
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        context.context.cache_clear()
        settings = get_settings()
        upgrade(settings.resolved_database_url())
        return settings

    yield apply
    get_settings.cache_clear()
    context.context.cache_clear()


def new_submission(settings: Settings, url: str) -> str:
    factory = session_factory(engine_for(settings.resolved_database_url()))
    archive = pack_folder(LEDGER_DIR)
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, f"w-{uuid.uuid4().hex[:8]}", "Worker test")
        published = catalog.publish_version(session, tenant.id, load_assignment(LEDGER_DIR), "", archive, sha256(archive))
        row = Submission(
            tenant_id=tenant.id,
            assignment_id=published.assignment.id,
            assignment_version_id=published.version.id,
            learner="ann",
            repo_url=url,
            attempt=1,
            request_hash="x",
        )
        inserted = submissions.insert_submission(session, row)
        assert inserted is not None
        return inserted.id


def run_burst(settings: Settings) -> None:
    """Work the queue until it is empty, in this process (retries with no delay come back to it)."""
    connection = jobs.connect(settings.redis_url)
    queue = jobs.make_queue(settings, connection)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer, job_class=jobs.AllowlistJob).work(
        burst=True
    )


def stored(settings: Settings, submission_id: str) -> tuple[Submission, list[SubmissionEvent], int]:
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:
        row = session.get(Submission, submission_id)
        assert row is not None
        events = submissions.events_after(session, row.tenant_id, row.id, 0)
        grades = session.scalar(select(func.count(GradeRecord.id)).where(GradeRecord.submission_id == row.id)) or 0
        return row, events, grades


def test_an_infrastructure_fault_is_retried_then_ends_in_error(
    configure: Configure, git_server: LoopbackGitServer
) -> None:
    # A base image that does not exist: the Docker engine refuses the build, a fault of the system.
    settings = configure(
        GRADER_BASE_IMAGE=f"grader-test/no-such-base:{uuid.uuid4().hex[:8]}",
        GRADER_JOB_RETRIES="2",
        GRADER_JOB_RETRY_BASE_S="0",
    )
    url = git_server.publish(f"infra-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "reference")
    submission_id = new_submission(settings, url)
    queue = jobs.make_queue(settings, jobs.connect(settings.redis_url))
    jobs.enqueue_grading(queue, settings, submission_id, 1)
    run_burst(settings)
    row, events, grades = stored(settings, submission_id)
    assert row.state == "error" and row.tries == 3 and grades == 0
    states = [e.state for e in events]
    assert states.count("retrying") == 2 and states[-1] == "error", states
    assert "no-such-base" in events[-1].detail
    assert jobs.grade_job_id(submission_id, 1) in FailedJobRegistry(queue.name, connection=queue.connection)


def test_a_duplicate_job_of_a_graded_submission_changes_nothing(
    configure: Configure, git_server: LoopbackGitServer
) -> None:
    settings = configure()
    url = git_server.publish(f"dup-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "partial")
    submission_id = new_submission(settings, url)
    assert grading.grade_submission(submission_id) == "graded"
    row, events, grades = stored(settings, submission_id)
    assert (row.state, row.tries, grades) == ("graded", 1, 1)
    assert grading.grade_submission(submission_id) == "graded"  # the job ran twice (e.g. reconciler race)
    again, events_after, grades_after = stored(settings, submission_id)
    assert (again.tries, grades_after, len(events_after)) == (1, 1, len(events))


def test_a_job_rerun_after_a_crash_past_the_grade_keeps_one_grade(
    configure: Configure, git_server: LoopbackGitServer
) -> None:
    settings = configure()
    url = git_server.publish(f"crash-{uuid.uuid4().hex[:6]}", LEDGER_SOLUTIONS / "partial")
    submission_id = new_submission(settings, url)
    assert grading.grade_submission(submission_id) == "graded"
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:  # as if the worker died while notifying
        row = session.get(Submission, submission_id)
        assert row is not None
        row.state = "notifying"
    assert grading.grade_submission(submission_id) == "graded"
    row, events, grades = stored(settings, submission_id)
    assert (row.state, row.tries, grades) == ("graded", 2, 1)
    assert [e.stage for e in events].count("fetch") == 2  # the first run only: start and done


def test_a_forged_job_is_refused_by_the_allowlist(configure: Configure, tmp_path: Path) -> None:
    settings = configure()
    marker = tmp_path / "pwned"
    queue = jobs.make_queue(settings, jobs.connect(settings.redis_url))
    # Anyone who can write to Redis could queue this; the worker must not run it.
    job = queue.enqueue("os.system", f"touch {marker}")
    run_burst(settings)
    assert not marker.exists()
    assert job.id in FailedJobRegistry(queue.name, connection=queue.connection)
    job.refresh()
    assert "not on the allowlist" in (job.latest_result().exc_string if job.latest_result() else "")


def new_version(settings: Settings, folder: Path = LEDGER_DIR) -> str:
    """An uploaded version, `checking`, as the API stores it (solutions included)."""
    factory = session_factory(engine_for(settings.resolved_database_url()))
    archive = pack_folder(folder)
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, f"c-{uuid.uuid4().hex[:8]}", "Check test")
        uploaded = catalog.publish_version(session, tenant.id, load_assignment(folder), "", archive, sha256(archive))
        assert uploaded.version.status == "checking"
        return uploaded.version.id


def version_row(settings: Settings, version_id: str) -> AssignmentVersion:
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:
        row = session.get(AssignmentVersion, version_id)
        assert row is not None
        session.expunge(row)
        return row


def test_the_check_job_publishes_a_version_whose_solutions_grade_as_written(configure: Configure) -> None:
    settings = configure()
    version_id = new_version(settings)
    assert checking.check_version(version_id) == "published"
    row = version_row(settings, version_id)
    assert row.status == "published" and row.checked_at is not None and row.check_report is not None
    assert [r["solution"] for r in row.check_report["rows"]] == ["reference", "failing", "partial"]
    assert checking.check_version(version_id) == "published"  # a duplicate job changes nothing


def test_a_system_fault_in_the_check_keeps_the_version_checking_and_is_retried(configure: Configure) -> None:
    # A base image that does not exist: the Docker engine refuses the build, a fault of the system.
    settings = configure(
        GRADER_BASE_IMAGE=f"grader-test/no-such-base:{uuid.uuid4().hex[:8]}",
        GRADER_JOB_RETRIES="1",
        GRADER_JOB_RETRY_BASE_S="0",
    )
    version_id = new_version(settings)
    queue = jobs.make_queue(settings, jobs.connect(settings.redis_url))
    jobs.enqueue_check(queue, settings, version_id)
    run_burst(settings)
    row = version_row(settings, version_id)
    assert row.status == "checking" and row.checked_at is None  # never refused for the system's fault
    assert "will be retried" in row.status_detail and "no-such-base" in row.status_detail
    assert jobs.check_job_id(version_id) in FailedJobRegistry(queue.name, connection=queue.connection)


def test_the_reconciler_requeues_a_check_whose_job_was_lost(configure: Configure) -> None:
    settings = configure()
    version_id = new_version(settings)
    queue = jobs.make_queue(settings, jobs.connect(settings.redis_url))
    factory = session_factory(engine_for(settings.resolved_database_url()))
    later = datetime.now(UTC) + timedelta(seconds=settings.stuck_after_s + 1)
    assert version_id in reconcile(factory, queue, settings, now=later)
    assert jobs.check_job_id(version_id) in queue.job_ids
    assert version_id not in reconcile(factory, queue, settings, now=later)  # its job is alive now
