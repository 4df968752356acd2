"""The grading job: one submission through the pipeline, the issue stage and notification.

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

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.core.errors import FaultKind, disposition, fault_detail
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment
from grader.grading.pipeline import grade_repository
from grader.jobs import lease, similarity
from grader.jobs import passback as passback_jobs
from grader.jobs import queue as jobs
from grader.jobs.context import Context, context, is_last_try
from grader.jobs.history import Stages, fault, progress
from grader.jobs.tenant_issuer import issue_once
from grader.notify import webhooks
from grader.store import catalog, submissions
from grader.store.db import session_scope
from grader.store.models import AssignmentVersion, CredentialRecord, GradeRecord, Submission, SubmissionState

log = logging.getLogger(__name__)


def _load(ctx: Context, version: AssignmentVersion) -> LoadedAssignment:
    return catalog.loaded_version(version, ctx.settings.cache_dir / "assignments")


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


def _grade_stage(ctx: Context, submission_id: str, stages: Stages | None = None) -> str:
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
        checks = similarity.requirements(session, ctx.settings, submission, loaded.spec)
    on_event = progress(ctx, submission_id, stages)
    result = grade_repository(
        url, loaded, ctx.settings, ref=ref, on_event=on_event, issuer=None, ports=ctx.ports,
        ownership=checks.ownership, sources=checks.sources,
    )
    for stage, seconds in result.timings.items():
        ctx.metrics.stage(stage, seconds)
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        try:
            with session.begin_nested():
                record = _store_grade(session, submission, version_id, result)
                similarity.record_work(session, submission, result)
                return record.id
        except IntegrityError:  # a concurrent run of this job stored it first: keep theirs
            pass
    with session_scope(ctx.factory) as session:
        winner = session.scalar(
            select(GradeRecord).where(GradeRecord.submission_id == submission_id, GradeRecord.run == run)
        )
        assert winner is not None
        return winner.id


def _issue_stage(ctx: Context, submission_id: str, grade_id: str) -> str | None:
    """The one issue stage with the tenant's issuer; returns the stored credential's id, or None when
    none was issued."""
    credential_id, _new = issue_once(ctx, submission_id, grade_id, progress(ctx, submission_id))
    return credential_id


def _row(session: Session, submission_id: str) -> Submission:
    submission = session.get(Submission, submission_id)
    assert submission is not None
    return submission


def _notify_stage(ctx: Context, submission_id: str, grade_id: str, credential_id: str | None) -> None:
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        record = session.get(GradeRecord, grade_id)
        assert submission is not None and record is not None
        submissions.record_event(session, submission, SubmissionState.NOTIFYING, "notify", "start", "")
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


def grade_submission(submission_id: str) -> str:
    """Grade one submission. Returns the final state; raises only to ask rq for a retry."""
    return run_grading(context(), submission_id)


def run_grading(ctx: Context, submission_id: str) -> str:
    """The grading job's state machine for one submission, with `ctx`'s store, ports and metrics, under
    the submission's lease (grader.jobs.lease): a job whose submission another live worker holds ends
    at once, and one whose worker dies is handed on by the reconciler."""
    with lease.holding(ctx.factory, lease.submission_resource(submission_id), ctx.settings.lease_ttl_s) as held:
        return _run_grading(ctx, submission_id) if held else "held-elsewhere"


def _run_grading(ctx: Context, submission_id: str) -> str:
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            return "missing"
        if SubmissionState(submission.state).terminal:
            return submission.state  # a duplicate job of a finished submission
        submission.tries += 1
    stages = Stages()
    try:
        grade_id = _grade_stage(ctx, submission_id, stages)
        stages.current = "issue"
        # Duplicates and similarity (bounded); a flagged passing submission waits for review (grader.jobs.review).
        held = similarity.hold_for_review(ctx, submission_id, grade_id)
        credential_id = None if held else _issue_stage(ctx, submission_id, grade_id)
        stages.current = "notify"
        _notify_stage(ctx, submission_id, grade_id, credential_id)
        passback_jobs.record_passbacks(ctx, submission_id)  # LMS grade passback, for learners from a launch
    except Exception as exc:
        return _settlefault(ctx, submission_id, stages.current, exc)
    with session_scope(ctx.factory) as session:
        record = session.get(GradeRecord, grade_id)
        submission = session.get(Submission, submission_id)
        assert record is not None and submission is not None
        outcome = "tampered" if record.tampered else ("passed" if record.passed else "failed")
        submission.error = None  # a fault of an earlier try no longer describes it
        submissions.record_event(session, submission, SubmissionState.GRADED, "", "done", outcome)
    ctx.metrics.outcome(outcome)
    return SubmissionState.GRADED.value


def _settlefault(ctx: Context, submission_id: str, stage: str, exc: Exception) -> str:
    """Where a fault leaves the submission, by grader.core.errors' mapping; returns the final state.

    Raises `exc` again for a fault of the system, so rq retries the job (or, on the last try, files it
    as failed); a learner's or an author's fault is final at once.
    """
    outcome = disposition(exc)
    detail = fault_detail(exc)
    if outcome.kind is FaultKind.AUTHOR:
        detail = f"the assignment cannot be used: {detail}"
    if outcome.retry and not is_last_try():
        log.warning("submission %s: fault of the system, will retry: %s", submission_id, detail)
        fault(ctx, submission_id, SubmissionState.RETRYING, stage, detail)
        raise exc
    state = SubmissionState(outcome.state)
    if outcome.kind is not FaultKind.LEARNER:
        log.warning("submission %s: %s fault (%s): %s", submission_id, outcome.kind.value, state.value, detail)
    fault(ctx, submission_id, state, stage, detail)
    ctx.metrics.outcome(state.value)
    if outcome.retry:
        raise exc
    return state.value
