"""Queue workers: the job functions (allowlisted in grader.jobs.queue) and the worker pool.

One grading job runs the pipeline's stages for one submission and writes each stage's state to the
store as it goes. Every stage can run again safely: a grade is stored at most once per run (unique
constraint), a credential at most once per submission, a webhook event at most once per endpoint.

Faults are sorted by grader.core.errors, the one mapping shared with the CLI and the API: a learner's
fault (a refused URL, no such repository, a tree against the rules) ends `rejected`; an author's
(a spec that no longer loads, a package that does not exist) ends `error`; neither retries. A fault
of the system (Docker, database, Redis, image build, a git host the worker cannot reach) is raised so
rq retries the job with backoff, and marks the submission `error` only when the last try has failed
too. Failing or hostile learner code is no fault at all: it is graded. Every fault fills in the
submission's `error`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

from redis import Redis
from rq import Queue, Worker, get_current_job
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from grader.authoring.check import check_assignment, refusals
from grader.config import Settings, get_settings
from grader.core.errors import FaultKind, disposition, fault_detail
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.result import GradingResult
from grader.core.spec import AssignmentSpec, LoadedAssignment, SpecError
from grader.grading.pipeline import grade_repository
from grader.issuing import tenant as issuing
from grader.jobs import queue as jobs
from grader.notify import webhooks
from grader.store import ops
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import (
    STAGE_STATES,
    AssignmentVersion,
    CredentialRecord,
    GradeRecord,
    Submission,
    SubmissionState,
    Tenant,
    VersionStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)


class DeliveryFailed(RuntimeError):
    """A webhook try failed; raised so rq schedules the next try."""


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


def _is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def _event(ctx: Context, submission_id: str, state: SubmissionState, stage: str, status: str, detail: str) -> None:
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is not None:
            ops.record_event(session, submission, state, stage, status, detail)


@dataclass
class _Stages:
    """The stage a job is in, so that a fault's event names where it happened."""

    current: str = "load"


def _fault(ctx: Context, submission_id: str, state: SubmissionState, stage: str, detail: str) -> None:
    """Record a fault: the state move, its event, and the submission's `error` (what the API shows)."""
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is not None:
            submission.error = detail[:2000]
            status = "refused" if state is SubmissionState.REJECTED else "fail"
            ops.record_event(session, submission, state, stage, status, detail)


def _progress(ctx: Context, submission_id: str, stages: _Stages | None = None) -> Any:
    """The pipeline's stage callback: every start, end and failure of a stage goes to the store."""

    def on_event(stage: str, status: str, detail: str) -> None:
        if status not in ("start", "done", "fail"):
            return  # build log lines are too chatty for the history
        if status == "start" and stages is not None:
            stages.current = stage
        state = STAGE_STATES.get(stage, SubmissionState.RUNNING)
        _event(ctx, submission_id, state, stage, status, detail)

    return on_event


# Stages ---------------------------------------------------------------------------------------


def _load(ctx: Context, version: AssignmentVersion) -> LoadedAssignment:
    return ops.loaded_version(version, ctx.settings.cache_dir / "assignments")


def _store_grade(session: Session, submission: Submission, version_id: str, result: GradingResult) -> GradeRecord:
    grade = result.grade
    record = GradeRecord(
        tenant_id=submission.tenant_id,
        submission_id=submission.id,
        assignment_version_id=version_id,
        run=submission.run,
        score=grade.score,
        max_score=grade.max_score,
        percent=grade.percent,
        passed=grade.passed,
        tampered=grade.tampered,
        grade=grade.model_dump(mode="json"),
        evidence=result.evidence.model_dump(mode="json"),
        timings=result.timings,
        learner_output=result.learner_output[-65536:],
    )
    session.add(record)
    submission.commit = grade.commit
    session.flush()
    return record


def _grade_stage(ctx: Context, submission_id: str, stages: _Stages | None = None) -> str:
    """Run the pipeline unless this run already has a grade; returns the grade record's id."""
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        version = session.get(AssignmentVersion, submission.assignment_version_id)
        assert version is not None
        loaded = _load(ctx, version)
        existing = session.scalar(
            select(GradeRecord).where(GradeRecord.submission_id == submission.id, GradeRecord.run == submission.run)
        )
        if existing is not None:
            return existing.id
        url, ref, version_id, run = submission.repo_url, submission.ref, version.id, submission.run
    on_event = _progress(ctx, submission_id, stages)
    result = grade_repository(url, loaded, ctx.settings, ref=ref, on_event=on_event, issuer=None)
    for stage, seconds in result.timings.items():
        jobs.record_stage(ctx.redis, stage, seconds)
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        try:
            with session.begin_nested():
                return _store_grade(session, submission, version_id, result).id
        except IntegrityError:  # a concurrent run of this job stored it first: keep theirs
            pass
    with session_scope(ctx.factory) as session:
        winner = session.scalar(
            select(GradeRecord).where(GradeRecord.submission_id == submission_id, GradeRecord.run == run)
        )
        assert winner is not None
        return winner.id


def _issue_request(session: Session, submission_id: str, grade_id: str) -> issuing.IssueRequest | None:
    record = session.get(GradeRecord, grade_id)
    submission = session.get(Submission, submission_id)
    assert record is not None and submission is not None
    if not record.passed or record.tampered:
        return None
    version = session.get(AssignmentVersion, record.assignment_version_id)
    tenant = session.get(Tenant, record.tenant_id)
    assert version is not None and tenant is not None
    return issuing.IssueRequest(
        tenant=tenant,
        learner=submission.learner,
        spec=AssignmentSpec.model_validate(version.spec),
        grade=Grade.model_validate(record.grade),
        evidence=Evidence.model_validate(record.evidence),
        # Fixed per submission, so a re-run that lost the race cannot mint a second identity.
        credential_id=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'grader:{submission_id}')}",
    )


def _issue_stage(ctx: Context, submission_id: str, grade_id: str) -> str | None:
    """Issue a credential for a passing, untampered grade; at most one per submission."""
    with session_scope(ctx.factory) as session:
        existing = session.scalar(select(CredentialRecord).where(CredentialRecord.submission_id == submission_id))
        if existing is not None:
            return existing.id
        request = _issue_request(session, submission_id, grade_id)
        if request is None:
            return None
        ops.record_event(session, _row(session, submission_id), SubmissionState.ISSUING, "issue", "start", "")
    started = time.monotonic()
    with session_scope(ctx.factory) as session:
        try:
            document, status_list, index = issuing.issue(session, ctx.settings, request)
        except issuing.IssuerUnavailable as exc:
            session.rollback()
            ops.record_event(
                session, _row(session, submission_id), SubmissionState.ISSUING, "issue", "skipped", str(exc)
            )
            return None
        credential = CredentialRecord(
            tenant_id=request.tenant.id,
            submission_id=submission_id,
            grade_id=grade_id,
            credential_id=request.credential_id,
            document=document,
            status_list_id=status_list.id,
            status_index=index,
        )
        try:
            with session.begin_nested():
                session.add(credential)
                session.flush()
        except IntegrityError:  # a concurrent run issued it first; its status index stays allocated, unused
            return None
        ops.record_event(
            session, _row(session, submission_id), SubmissionState.ISSUING, "issue", "done", request.credential_id
        )
        credential_row_id = credential.id
    jobs.record_stage(ctx.redis, "issue", time.monotonic() - started)
    return credential_row_id


def _row(session: Session, submission_id: str) -> Submission:
    submission = session.get(Submission, submission_id)
    assert submission is not None
    return submission


def _notify_stage(ctx: Context, submission_id: str, grade_id: str, credential_id: str | None) -> None:
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        record = session.get(GradeRecord, grade_id)
        assert submission is not None and record is not None
        ops.record_event(session, submission, SubmissionState.NOTIFYING, "notify", "start", "")
        data = {
            "submission_id": submission.id,
            "learner": submission.learner,
            "run": submission.run,
            "score": record.score,
            "max_score": record.max_score,
            "percent": record.percent,
            "passed": record.passed,
            "commit": submission.commit,
        }
        deliveries = webhooks.emit(
            session, submission.tenant_id, "submission.graded", f"{submission.id}.r{submission.run}.graded", data
        )
        if credential_id is not None:
            credential = session.get(CredentialRecord, credential_id)
            assert credential is not None
            deliveries += webhooks.emit(
                session,
                submission.tenant_id,
                "credential.issued",
                f"{credential.id}.issued",
                {"credential_id": credential.id, "id": credential.credential_id, "submission_id": submission.id},
            )
        ids = [d.id for d in deliveries]
    for delivery_id in ids:
        jobs.enqueue_delivery(ctx.queue, ctx.settings, delivery_id)


# Job functions (the allowlist in grader.jobs.queue names these) -----------------------------------


def grade_submission(submission_id: str) -> str:
    """Grade one submission. Returns the final state; raises only to ask rq for a retry."""
    ctx = context()
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            return "missing"
        if SubmissionState(submission.state).terminal:
            return submission.state  # a duplicate job of a finished submission
        submission.tries += 1
    stages = _Stages()
    try:
        grade_id = _grade_stage(ctx, submission_id, stages)
        stages.current = "issue"
        credential_id = _issue_stage(ctx, submission_id, grade_id)
        stages.current = "notify"
        _notify_stage(ctx, submission_id, grade_id, credential_id)
    except Exception as exc:
        return _settle_fault(ctx, submission_id, stages.current, exc)
    with session_scope(ctx.factory) as session:
        record = session.get(GradeRecord, grade_id)
        submission = session.get(Submission, submission_id)
        assert record is not None and submission is not None
        outcome = "tampered" if record.tampered else ("passed" if record.passed else "failed")
        submission.error = None  # a fault of an earlier try no longer describes it
        ops.record_event(session, submission, SubmissionState.GRADED, "", "done", outcome)
    jobs.record_outcome(ctx.redis, outcome)
    return SubmissionState.GRADED.value


def _settle_fault(ctx: Context, submission_id: str, stage: str, exc: Exception) -> str:
    """Where a fault leaves the submission, by grader.core.errors' mapping; returns the final state.

    Raises `exc` again for a fault of the system, so rq retries the job (or, on the last try, files it
    as failed); a learner's or an author's fault is final at once.
    """
    outcome = disposition(exc)
    detail = fault_detail(exc)
    if outcome.kind is FaultKind.AUTHOR:
        detail = f"the assignment cannot be used: {detail}"
    if outcome.retry and not _is_last_try():
        log.warning("submission %s: fault of the system, will retry: %s", submission_id, detail)
        _fault(ctx, submission_id, SubmissionState.RETRYING, stage, detail)
        raise exc
    state = SubmissionState(outcome.state)
    if outcome.kind is not FaultKind.LEARNER:
        log.warning("submission %s: %s fault (%s): %s", submission_id, outcome.kind.value, state.value, detail)
    _fault(ctx, submission_id, state, stage, detail)
    jobs.record_outcome(ctx.redis, state.value)
    if outcome.retry:
        raise exc
    return state.value


def _author_reasons(exc: SpecError, root: Path | None) -> list[str]:
    """Spec issues with paths relative to the uploaded folder (the worker's cache means nothing to an author)."""

    def relative(file: str) -> str:
        with contextlib.suppress(ValueError):
            return Path(file).relative_to(root).as_posix() if root is not None else file
        return file

    return [f"{relative(i.file)}: {i.field}: {i.message}" for i in exc.issues]


def _run_check(ctx: Context, version_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The check's report and its refusals. Raises what `check_assignment` raises for the system's faults."""
    root: Path | None = None
    try:
        with session_scope(ctx.factory) as session:
            version = session.get(AssignmentVersion, version_id)
            assert version is not None
            root = _load(ctx, version).root
        report = check_assignment(root, ctx.settings)  # minutes, perhaps: no session held open meanwhile
    except SpecError as exc:
        return None, _author_reasons(exc, root)
    return report.model_dump(mode="json"), refusals(report)


def check_version(version_id: str) -> str:
    """Run `grader assignment check` on an uploaded version: published when every solution grades as the
    author wrote down, refused (with the table) otherwise. Returns the version's status; raises only to
    ask rq for a retry, after a fault of the system (the version stays `checking` meanwhile)."""
    ctx = context()
    with session_scope(ctx.factory) as session:
        version = session.get(AssignmentVersion, version_id)
        if version is None:
            return "missing"
        if version.status != VersionStatus.CHECKING:
            return version.status  # a duplicate job of a finished check
    try:
        report, reasons = _run_check(ctx, version_id)
    except Exception as exc:
        outcome = disposition(exc)
        if outcome.kind is not FaultKind.AUTHOR:
            detail = f"the check could not run yet and will be retried ({outcome.kind.value} fault): {fault_detail(exc)}"
            log.warning("version %s: %s", version_id, detail)
            with session_scope(ctx.factory) as session:
                row = session.get(AssignmentVersion, version_id)
                if row is not None:
                    row.status_detail = detail[:4000]
            raise
        report, reasons = None, [fault_detail(exc)]
    with session_scope(ctx.factory) as session:
        row = session.get(AssignmentVersion, version_id)
        if row is None:
            return "missing"
        ops.settle_check(row, report, reasons)
        return row.status


def deliver_webhook(delivery_id: str) -> str:
    """One try of one webhook delivery; raises on failure so rq retries with exponential backoff."""
    ctx = context()
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "missing"
        if delivery.status == "delivered":
            return "delivered"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            return "endpoint-gone"
        url, secret, payload = endpoint.url, endpoint.secret, delivery.payload
    outcome = webhooks.send(url, secret, payload, delivery_id, int(time.time()))
    final = _is_last_try()
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        webhooks.record_try(session, delivery, outcome, final)
    if not outcome.delivered:
        raise DeliveryFailed(f"delivery {delivery_id} to {url}: {outcome.error}")
    return "delivered"


# The worker pool ------------------------------------------------------------------------------


def _work() -> None:
    """One worker process: an rq Worker on the grading queue, with the retry scheduler."""
    settings = get_settings()
    connection = jobs.connect(settings.redis_url)
    queue = jobs.make_queue(settings, connection)
    worker = Worker(
        [queue], connection=connection, serializer=JSONSerializer, job_class=jobs.AllowlistJob, queue_class=Queue
    )
    worker.work(with_scheduler=True, logging_level="INFO")


class Pool:
    """N worker processes plus the reconciler, in the foreground until SIGINT/SIGTERM."""

    def __init__(self, settings: Settings, concurrency: int, exit_with_parent: bool = False) -> None:
        self.settings = settings
        self.concurrency = concurrency
        # `grader serve --grading-workers` starts the pool as a child; uvicorn ends its process by
        # re-raising the signal, so the pool watches its parent instead of waiting to be told.
        self.parent = os.getppid() if exit_with_parent else None
        self.spawn = multiprocessing.get_context("spawn")
        self.children: list[multiprocessing.process.BaseProcess] = []
        self.stopping = False

    def _start_child(self) -> multiprocessing.process.BaseProcess:
        process = self.spawn.Process(target=_work, daemon=False)
        process.start()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.children = [self._start_child() for _ in range(self.concurrency)]
        factory = session_factory(engine_for(self.settings.resolved_database_url()))
        queue = jobs.make_queue(self.settings, jobs.connect(self.settings.redis_url))
        next_reconcile = 0.0
        while not self.stopping:
            if self.parent is not None and os.getppid() != self.parent:
                break
            self.children = [c if c.is_alive() else self._start_child() for c in self.children]
            if time.monotonic() >= next_reconcile:
                try:
                    jobs.reconcile(factory, queue, self.settings)
                except Exception as exc:  # the reconciler must never take the pool down
                    log.warning("reconcile failed: %s", exc)
                next_reconcile = time.monotonic() + self.settings.reconcile_interval_s
            time.sleep(0.5)
        self._shutdown()

    def _shutdown(self) -> None:
        for child in self.children:
            if child.is_alive() and child.pid is not None:
                # rq's warm shutdown: finish the current job, then exit.
                signal_child(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.job_timeout_s
        for child in self.children:
            child.join(max(0.0, deadline - time.monotonic()))


def signal_child(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def run_pool(settings: Settings, concurrency: int, exit_with_parent: bool = False) -> None:
    Pool(settings, concurrency, exit_with_parent).run()
