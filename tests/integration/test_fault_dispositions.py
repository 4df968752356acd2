"""Whose fault decides what the service does (grader.core.errors), through the worker against real Redis, git
and Docker: a fetch that fails on the grader's side (git host stopped, DNS failure) is retried, fills in
`error` and uses up none of the learner's attempts; a missing repository is the learner's (rejected,
one attempt); a package that does not exist is the author's (error at once, no retry, no attempt)."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from grader.config import Settings
from grader.core.policy import Admission, RateLimits, admit
from grader.core.spec import load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.jobs import queue as jobs
from grader.store import catalog, submissions, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import AssignmentVersion, Submission, utcnow
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS, copy_with_spec
from tests.integration.test_fetch_faults import tree_repo
from tests.integration.test_service_stack import redis_service
from tests.integration.test_service_worker import Configure, configure, new_submission, run_burst, stored

pytestmark = pytest.mark.integration
__all__ = ["configure", "redis_service"]


def grade_once(settings: Settings, submission_id: str) -> None:
    queue = jobs.make_queue(settings, jobs.connect(settings.redis_url))
    jobs.enqueue_grading(queue, settings, submission_id, 1)
    run_burst(settings)


def next_admission(settings: Settings, submission_id: str) -> Admission:
    """What the learner's next submission to the same assignment would be admitted as."""
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:
        row = session.get(Submission, submission_id)
        assert row is not None
        version = session.get(AssignmentVersion, row.assignment_version_id)
        assert version is not None
        now = utcnow()
        history = submissions.learner_history(session, row.tenant_id, row.assignment_id, row.learner, now)
        policy = load_assignment(LEDGER_DIR).spec.submission.model_copy(update={"max_attempts": 1, "cooldown_s": 0})
        decision = admit(policy, history, now, RateLimits(learner_per_hour=1000, tenant_per_minute=1000), None)
    assert isinstance(decision, Admission), decision
    return decision


@pytest.fixture
def stopped_server(tmp_path: Path) -> tuple[LoopbackGitServer, str]:
    """A git server that served the reference solution, then stopped: the host is unreachable."""
    server = LoopbackGitServer(tmp_path / "stopped-git")
    server.start()
    url = server.publish(f"gone-{secrets.token_hex(4)}", LEDGER_SOLUTIONS / "reference")
    server.stop()
    return server, url


def test_a_fetch_that_fails_on_the_graders_side_is_retried_and_consumes_no_attempt(
    configure: Configure, stopped_server: tuple[LoopbackGitServer, str]
) -> None:
    server, url = stopped_server
    settings = configure(GRADER_ALLOWED_HOSTS=f'["{server.host}"]', GRADER_JOB_RETRIES="2", GRADER_JOB_RETRY_BASE_S="0")
    submission_id = new_submission(settings, url)
    grade_once(settings, submission_id)
    row, events, grades = stored(settings, submission_id)
    states = [e.state for e in events]
    assert row.state == "error" and row.tries == 3 and grades == 0, states
    assert "rejected" not in states and states.count("retrying") == 2
    assert row.error is not None and "could not reach the git host" in row.error and server.host in row.error
    assert events[-1].stage == "fetch"
    # max_attempts is 1 and this submission was the learner's first: the next one is still admitted (as
    # their second submission: attempt numbers are unique, an errored one keeps its number).
    assert next_admission(settings, submission_id).attempt == 2


def test_a_dns_failure_of_the_worker_is_a_fault_of_the_system(configure: Configure) -> None:
    settings = configure(
        GRADER_ALLOWED_HOSTS='["no-such-host.invalid"]', GRADER_JOB_RETRIES="1", GRADER_JOB_RETRY_BASE_S="0"
    )
    submission_id = new_submission(settings, "https://no-such-host.invalid/learner/ledger.git")
    grade_once(settings, submission_id)
    row, events, _ = stored(settings, submission_id)
    assert row.state == "error" and row.tries == 2, [e.state for e in events]
    assert row.error is not None and "could not resolve host" in row.error.lower()
    assert next_admission(settings, submission_id).attempt == 2


def test_a_missing_repository_is_rejected_at_once_and_uses_an_attempt(
    configure: Configure, git_server: LoopbackGitServer
) -> None:
    settings = configure(GRADER_JOB_RETRIES="2", GRADER_JOB_RETRY_BASE_S="0")
    submission_id = new_submission(settings, git_server.url(f"absent-{secrets.token_hex(4)}"))
    grade_once(settings, submission_id)
    row, events, _ = stored(settings, submission_id)
    assert row.state == "rejected" and row.tries == 1
    assert [e.state for e in events][-1] == "rejected" and events[-1].stage == "fetch"
    assert row.error is not None and "no repository" in row.error
    factory = session_factory(engine_for(settings.resolved_database_url()))
    with session_scope(factory) as session:
        history = submissions.learner_history(session, row.tenant_id, row.assignment_id, row.learner, utcnow())
    assert history.attempts_used == 1


def test_a_package_that_does_not_exist_is_the_authors_fault_without_retry(
    configure: Configure, git_server: LoopbackGitServer, tmp_path: Path
) -> None:
    settings = configure(GRADER_JOB_RETRIES="2", GRADER_JOB_RETRY_BASE_S="0")
    package = f"grader-no-such-package-{uuid.uuid4().hex[:8]}==1.0"
    broken = copy_with_spec(LEDGER_DIR, tmp_path / "broken", lambda spec: spec.update(packages=[package]))
    url = git_server.publish(f"author-{secrets.token_hex(4)}", LEDGER_SOLUTIONS / "reference")
    factory = session_factory(engine_for(settings.resolved_database_url()))
    archive = pack_folder(broken.root)
    with session_scope(factory) as session:
        tenant = tenancy.create_tenant(session, f"a-{uuid.uuid4().hex[:8]}", "Author fault test")
        published = catalog.publish_version(session, tenant.id, broken, "", archive, sha256(archive))
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
        submission_id = inserted.id
    grade_once(settings, submission_id)
    row, events, grades = stored(settings, submission_id)
    assert row.state == "error" and row.tries == 1 and grades == 0, [e.state for e in events]
    assert "retrying" not in [e.state for e in events]
    assert row.error is not None and "assignment.yaml" in row.error and "packages" in row.error
    assert package.split("==")[0] in row.error
    with session_scope(factory) as session:
        mine = session.scalars(select(Submission).where(Submission.tenant_id == row.tenant_id)).all()
        history = submissions.learner_history(session, row.tenant_id, row.assignment_id, row.learner, utcnow())
    assert len(mine) == 1 and history.attempts_used == 0
    assert yaml.safe_load((broken.root / "assignment.yaml").read_text())["packages"] == [package]


def test_a_name_too_long_for_the_file_system_is_rejected_not_retried(
    configure: Configure, git_server: LoopbackGitServer
) -> None:
    settings = configure(GRADER_JOB_RETRIES="2", GRADER_JOB_RETRY_BASE_S="0")
    url = tree_repo(git_server, {"ledger": {"__init__.py": b"", "n" * 300 + ".py": b"x = 1\n"}})
    submission_id = new_submission(settings, url)
    grade_once(settings, submission_id)
    row, events, grades = stored(settings, submission_id)
    assert row.state == "rejected" and row.tries == 1 and grades == 0, [e.state for e in events]
    assert row.error is not None and "refused by rule 'path-too-long'" in row.error
