"""A submission's history as its job goes: every stage's start, end, skip or failure, and faults (the
state move, its event and the submission's `error`, which the API shows)."""

from __future__ import annotations

from dataclasses import dataclass

from grader.grading.stopwatch import StageEvent
from grader.jobs.context import Context
from grader.store import submissions
from grader.store.db import session_scope
from grader.store.models import STAGE_STATES, Submission, SubmissionState


def event(ctx: Context, submission_id: str, state: SubmissionState, stage: str, status: str, detail: str) -> None:
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is not None:
            submissions.record_event(session, submission, state, stage, status, detail)


@dataclass
class Stages:
    """The stage a job is in, so that a fault's event names where it happened."""

    current: str = "load"


def fault(ctx: Context, submission_id: str, state: SubmissionState, stage: str, detail: str) -> None:
    """Record a fault: the state move, its event, and the submission's `error` (what the API shows)."""
    with session_scope(ctx.factory) as session:
        submission = session.get(Submission, submission_id)
        if submission is not None:
            submission.error = detail[:2000]
            status = "refused" if state is SubmissionState.REJECTED else "fail"
            submissions.record_event(session, submission, state, stage, status, detail)


def progress(ctx: Context, submission_id: str, stages: Stages | None = None) -> StageEvent:
    """The pipeline's stage callback: every start, end and failure of a stage goes to the store."""

    def on_event(stage: str, status: str, detail: str) -> None:
        if status not in ("start", "done", "fail", "skipped"):
            return  # build log lines are too chatty for the history
        if status == "start" and stages is not None:
            stages.current = stage
        state = STAGE_STATES.get(stage, SubmissionState.RUNNING)
        event(ctx, submission_id, state, stage, status, detail)

    return on_event
