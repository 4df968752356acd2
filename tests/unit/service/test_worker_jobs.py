"""The grading job's state machine on a real SQLite store with fake ports (tests/unit/fakes.py): which
state each outcome and each kind of fault leaves, retries, and at most one grade and one credential per
run. Nothing here needs Docker, git or Redis (no webhook is registered, so nothing is enqueued)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from grader.config import Settings
from grader.core.errors import AuthorFault, LearnerFault, SystemFault
from grader.core.spec import load_assignment
from grader.grading.ports import GradingPorts
from grader.issuing import tenant as issuing
from grader.jobs import grading
from grader.jobs.context import Context
from grader.jobs.queue import connect, make_queue
from grader.store import catalog, submissions, tenancy
from grader.store.archive import pack_folder, sha256
from grader.store.db import make_engine, session_factory, session_scope, upgrade
from grader.store.models import CredentialRecord, GradeRecord, Submission
from tests.conftest import LEDGER_DIR
from tests.unit.fakes import FakeFetcher, FakeSandbox, RecordedMetrics, fake_ports


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(
        home=tmp_path, key_passphrase=SecretStr("worker test passphrase"), redis_url="redis://127.0.0.1:1/0"
    )
    upgrade(settings.resolved_database_url())
    return settings


def make_context(settings: Settings, ports: GradingPorts) -> Context:
    redis = connect(settings.redis_url)  # nothing listens: nothing in these runs may need it
    return Context(
        settings=settings,
        factory=session_factory(make_engine(settings.resolved_database_url())),
        redis=redis,
        queue=make_queue(settings, redis),
        metrics=RecordedMetrics(),
        ports=ports,
    )


def new_submission(ctx: Context, with_keys: bool = True) -> str:
    archive = pack_folder(LEDGER_DIR)
    with session_scope(ctx.factory) as session:
        tenant = tenancy.create_tenant(session, f"t-{uuid.uuid4().hex[:8]}", "Worker test")
        if with_keys:
            issuing.init_tenant_keys(session, ctx.settings, tenant)
        uploaded = catalog.publish_version(session, tenant.id, load_assignment(LEDGER_DIR), "", archive, sha256(archive))
        catalog.settle_check(uploaded.version, None, [])
        row = Submission(
            tenant_id=tenant.id,
            assignment_id=uploaded.assignment.id,
            assignment_version_id=uploaded.version.id,
            learner="ann@example.org",
            repo_url="https://git.example/ann/ledger.git",
            attempt=1,
            request_hash="x",
        )
        inserted = submissions.insert_submission(session, row)
        assert inserted is not None
        return inserted.id


def stored(ctx: Context, submission_id: str) -> tuple[Submission, list[str], int, int]:
    with session_scope(ctx.factory) as session:
        row = session.get(Submission, submission_id)
        assert row is not None
        session.expunge(row)
        events = [f"{e.stage}:{e.status}" for e in submissions.events_after(session, row.tenant_id, row.id, 0)]
        grades = session.scalar(select(func.count(GradeRecord.id)).where(GradeRecord.submission_id == row.id)) or 0
        creds = session.scalar(
            select(func.count(CredentialRecord.id)).where(CredentialRecord.submission_id == row.id)
        ) or 0
        return row, events, grades, creds


def test_a_passing_submission_is_graded_issued_once_and_notified(settings: Settings) -> None:
    ctx = make_context(settings, fake_ports())
    submission_id = new_submission(ctx)
    assert grading.run_grading(ctx, submission_id) == "graded"
    row, events, grades, creds = stored(ctx, submission_id)
    assert (row.state, row.tries, row.error, grades, creds) == ("graded", 1, None, 1, 1)
    assert events[0] == ":accepted" and events[-1] == ":done"
    for stage in ("fetch", "build", "run", "judge", "issue", "notify"):
        assert f"{stage}:start" in events, events
    assert isinstance(ctx.metrics, RecordedMetrics) and ctx.metrics.outcomes == ["passed"]
    assert {name for name, _ in ctx.metrics.stages} >= {"fetch", "build", "run", "judge", "issue"}
    assert grading.run_grading(ctx, submission_id) == "graded"  # a duplicate job of a finished submission
    assert stored(ctx, submission_id)[2:] == (1, 1)


def test_a_failing_grade_is_graded_without_a_credential(settings: Settings) -> None:
    ledger = load_assignment(LEDGER_DIR)
    ctx = make_context(settings, fake_ports(FakeSandbox(failing=set(ledger.all_test_ids()[:25]))))
    submission_id = new_submission(ctx)
    assert grading.run_grading(ctx, submission_id) == "graded"
    row, events, grades, creds = stored(ctx, submission_id)
    assert (row.state, grades, creds) == ("graded", 1, 0) and "issue:start" not in events
    assert isinstance(ctx.metrics, RecordedMetrics) and ctx.metrics.outcomes == ["failed"]


def test_a_tenant_without_keys_is_graded_and_the_issue_stage_says_why(settings: Settings) -> None:
    ctx = make_context(settings, fake_ports())
    submission_id = new_submission(ctx, with_keys=False)
    assert grading.run_grading(ctx, submission_id) == "graded"
    row, events, grades, creds = stored(ctx, submission_id)
    assert (row.state, grades, creds) == ("graded", 1, 0) and "issue:skipped" in events


def test_a_learner_fault_is_rejected_at_once(settings: Settings) -> None:
    fetcher = FakeFetcher(faults=[LearnerFault("no such repository")])
    ctx = make_context(settings, fake_ports(fetcher=fetcher))
    submission_id = new_submission(ctx)
    assert grading.run_grading(ctx, submission_id) == "rejected"
    row, events, grades, _ = stored(ctx, submission_id)
    assert (row.state, grades, row.error) == ("rejected", 0, "no such repository") and "fetch:fail" in events


def test_an_author_fault_ends_in_error_without_a_retry(settings: Settings) -> None:
    ctx = make_context(settings, fake_ports(FakeSandbox(faults=[AuthorFault("suite too large", file="tests")])))
    submission_id = new_submission(ctx)
    assert grading.run_grading(ctx, submission_id) == "error"
    row, _, grades, _ = stored(ctx, submission_id)
    assert row.state == "error" and grades == 0 and row.error is not None
    assert row.error.startswith("the assignment cannot be used: tests: suite too large")


def test_a_system_fault_is_retried_then_graded_once(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = FakeSandbox(faults=[SystemFault("engine down")])
    ctx = make_context(settings, fake_ports(sandbox))
    submission_id = new_submission(ctx)
    monkeypatch.setattr(grading, "is_last_try", lambda: False)
    with pytest.raises(SystemFault):
        grading.run_grading(ctx, submission_id)
    row, events, grades, _ = stored(ctx, submission_id)
    assert (row.state, row.tries, grades, row.error) == ("retrying", 1, 0, "engine down") and "run:fail" in events
    assert grading.run_grading(ctx, submission_id) == "graded"  # the retry: the engine is back
    row, _, grades, creds = stored(ctx, submission_id)
    assert (row.state, row.tries, row.error, grades, creds, sandbox.runs) == ("graded", 2, None, 1, 1, 2)


def test_a_system_fault_on_the_last_try_ends_in_error(settings: Settings) -> None:
    ctx = make_context(settings, fake_ports(FakeSandbox(faults=[SystemFault("engine down")])))
    submission_id = new_submission(ctx)
    with pytest.raises(SystemFault):  # raised still, so that rq files the job as failed
        grading.run_grading(ctx, submission_id)
    row, _, grades, _ = stored(ctx, submission_id)
    assert (row.state, grades, row.error) == ("error", 0, "engine down")
