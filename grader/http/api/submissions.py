"""Submissions: create (idempotent), read, list, follow live (SSE), feedback under visibility rules."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse, ServerSentEvent

from grader.core.evidence import Evidence
from grader.core.feedback import learner_view, render_html, render_markdown
from grader.core.grade import Grade
from grader.core.policy import RateLimits, Refusal, admit
from grader.core.spec import AssignmentSpec, SubmissionPolicy
from grader.core.urlpolicy import UrlRefused, check_ref, check_repo_url
from grader.http.deps import ServicesDep, SessionDep, SubmitCaller, SubmitOnly
from grader.http.problems import FieldError, ProblemError, fault_problem, not_found
from grader.http.schemas import EventOut, FeedbackOut, GradeOut, SubmissionCreate, SubmissionOut, SubmissionPage
from grader.jobs.queue import enqueue_grading, enqueue_new_grading, grade_job_id
from grader.jobs.services import Services
from grader.store import catalog, submissions
from grader.store.admission import StoreBusy, admission, lock_tenant_rates
from grader.store.db import session_scope
from grader.store.models import (
    Assignment,
    AssignmentVersion,
    CredentialRecord,
    GradeRecord,
    Submission,
    SubmissionState,
    VersionStatus,
    new_id,
    utcnow,
)
from grader.store.submissions import VersionRef

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a create with the same key and body: the first submission is returned, no new one made.",
    ),
]


def view(session: Session, submission: Submission) -> SubmissionOut:
    return views(session, submission.tenant_id, [submission])[0]


def views(session: Session, tenant_id: str, rows: list[Submission]) -> list[SubmissionOut]:
    """The API's view of each submission: four queries for the whole list, not four per row."""
    seen = submissions.outlooks(session, tenant_id, rows)
    return [_out(s, seen[s.id].assignment, seen[s.id].version, seen[s.id].grade, seen[s.id].credential) for s in rows]


def _out(
    submission: Submission,
    assignment: str,
    version: str,
    grade: GradeRecord | None = None,
    credential: CredentialRecord | None = None,
) -> SubmissionOut:
    """The API's view of a submission from what the caller already holds (a new one has no grade yet)."""
    base = f"/api/v1/submissions/{submission.id}"
    links = {"self": base, "events": f"{base}/events", "feedback": f"{base}/feedback"}
    if credential is not None:
        links["credential"] = f"/api/v1/credentials/{credential.id}"
    return SubmissionOut(
        id=submission.id,
        assignment=assignment,
        version=version,
        learner=submission.learner,
        repo_url=submission.repo_url,
        ref=submission.ref,
        attempt=submission.attempt,
        run=submission.run,
        state=submission.state,
        late=submission.late,
        commit=submission.commit,
        error=submission.error,
        created_at=submission.created_at,
        updated_at=submission.updated_at,
        finished_at=submission.finished_at,
        score=grade.score if grade else None,
        max_score=grade.max_score if grade else None,
        percent=grade.percent if grade else None,
        passed=grade.passed if grade else None,
        credential_id=credential.id if credential else None,
        links=links,
    )


def _check_url(body: SubmissionCreate, services: Services) -> None:
    settings = services.settings
    try:
        check_repo_url(body.repo_url, settings.allowed_hosts, settings.allowed_schemes)
        if body.ref is not None:
            check_ref(body.ref)
    except UrlRefused as exc:
        where = "body.ref" if exc.rule == "ref" else "body.repo_url"
        raise fault_problem(exc, errors=[FieldError(location=where, message=str(exc))]) from exc


def _refuse(refusal: Refusal) -> ProblemError:
    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
    return ProblemError(refusal.status, refusal.code, refusal.detail, title=refusal.title, headers=headers)


def _replay(session: Session, tenant_id: str, key: str, body_hash: str) -> Submission | None:
    existing = submissions.submission_by_key(session, tenant_id, key)
    if existing is not None and existing.request_hash != body_hash:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "this Idempotency-Key was used before with a different request body; use a new key for a new submission",
        )
    return existing


def _pick_gradable(assignment_slug: str, refs: list[VersionRef], version: str | None) -> VersionRef:
    """The version a submission or regrade goes to: named, or the latest published. Raises ProblemError:
    404 when there is none, 409 when the named version has not passed its check."""
    if version is None:
        found = next((v for v in reversed(refs) if v.status == VersionStatus.PUBLISHED), None)
        if found is None and refs:
            raise ProblemError(
                409,
                "no-published-version",
                f"{assignment_slug} has no published version yet: every upload is still being checked or was refused",
            )
    else:
        found = next((v for v in refs if v.version == version), None)
    if found is None:
        raise not_found("version", f"{assignment_slug} {version or '(latest)'}")
    if found.status != VersionStatus.PUBLISHED:
        # The reasons stay on the author's check page: they may name hidden tests.
        raise ProblemError(
            409,
            "version-not-published",
            f"{assignment_slug} {found.version} is {found.status}, not published: it takes no submissions "
            f"(its check: GET /api/v1/assignments/{assignment_slug}/versions/{found.version}/check)",
        )
    return found


def gradable_version(session: Session, assignment: Assignment, version: str | None) -> AssignmentVersion:
    """The version a submission or regrade goes to, as a row (see _pick_gradable for what it raises)."""
    ref = _pick_gradable(assignment.slug, submissions.version_refs(session, assignment.tenant_id, assignment.id), version)
    found = session.get(AssignmentVersion, ref.id)
    assert found is not None
    return found


@dataclass(frozen=True)
class Target:
    """Where a submission goes, with the policy it is admitted under."""

    assignment_id: str
    assignment: str
    version_id: str
    version: str
    policy: SubmissionPolicy


# Parsed policies by (version id, spec hash): a published version never changes, so its policy is read
# and validated once per process instead of on every submission.
_POLICIES: dict[tuple[str, str], SubmissionPolicy] = {}
_POLICY_CACHE_SIZE = 4096


def _policy(session: Session, tenant_id: str, assignment: str, ref: VersionRef) -> SubmissionPolicy:
    cached = _POLICIES.get((ref.id, ref.spec_hash))
    if cached is not None:
        return cached
    spec = submissions.stored_spec(session, tenant_id, ref.id) or {}
    try:
        policy = SubmissionPolicy.model_validate(spec.get("submission", {}))
    except ValidationError as exc:  # stored before a bound existed (grader/core/spec.py)
        fields = ", ".join("submission." + ".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ProblemError(
            409,
            "version-policy-invalid",
            f"{assignment} {ref.version} has a submission policy that is no longer valid ({fields}); "
            "upload a corrected version",
        ) from exc
    if len(_POLICIES) >= _POLICY_CACHE_SIZE:
        _POLICIES.clear()
    _POLICIES[(ref.id, ref.spec_hash)] = policy
    return policy


def _target(session: Session, tenant_id: str, body: SubmissionCreate) -> tuple[Target, int | None]:
    """Where the submission goes and the tenant's own rate limit (one statement, the policy cached)."""
    found = submissions.admission_target(session, tenant_id, body.assignment)
    if found is None:
        raise not_found("assignment", body.assignment)
    ref = _pick_gradable(body.assignment, found.versions, body.version)
    policy = _policy(session, tenant_id, body.assignment, ref)
    return Target(found.assignment_id, body.assignment, ref.id, ref.version, policy), found.tenant_per_minute


def _admit(
    session: Session, services: Services, tenant_id: str, target: Target, body: SubmissionCreate, tenant_limit: int | None
) -> Submission:
    """Inside the admission lock: the learner's history, the decision, the row (not yet inserted)."""
    settings = services.settings
    limits = RateLimits(
        learner_per_hour=settings.learner_submissions_per_hour, tenant_per_minute=settings.tenant_submissions_per_minute
    )
    now = utcnow()  # read under the lock: admissions are ordered as their times are
    caps = (limits.learner_per_hour, tenant_limit if tenant_limit is not None else limits.tenant_per_minute)
    history = submissions.learner_history(session, tenant_id, target.assignment_id, body.learner, now, caps)
    decision = admit(target.policy, history, now, limits, tenant_limit)
    if isinstance(decision, Refusal):
        raise _refuse(decision)
    submission_id = new_id()
    return Submission(
        id=submission_id,
        tenant_id=tenant_id,
        assignment_id=target.assignment_id,
        assignment_version_id=target.version_id,
        learner=body.learner,
        repo_url=body.repo_url,
        ref=body.ref,
        attempt=decision.attempt,
        run=1,
        state=SubmissionState.QUEUED.value,
        tries=0,
        late=decision.late,
        # The job's id is fixed by the submission's, so it is written with the row: no second write after
        # the commit that could fail once the submission is accepted.
        job_id=grade_job_id(submission_id, 1),
        created_at=now,
        updated_at=now,
    )


def _enqueue(services: Services, submission_id: str, run: int) -> None:
    """After commit: a failure here loses nothing, the reconciler enqueues it later (the row already
    names the job's id)."""
    try:
        enqueue_grading(services.queue, services.settings, submission_id, run)
    except RedisError as exc:
        log.warning("could not enqueue %s now (%s); the reconciler will", submission_id, exc)


def _enqueue_new(services: Services, submission_id: str) -> None:
    """A new submission's first run, after its commit (a failure loses nothing: the reconciler enqueues it)."""
    try:
        enqueue_new_grading(services.queue, services.settings, submission_id)
    except RedisError as exc:
        log.warning("could not enqueue %s now (%s); the reconciler will", submission_id, exc)


def _busy(exc: StoreBusy, wait_s: float) -> ProblemError:
    return ProblemError(
        503,
        "database-busy",
        f"{exc}. The submission was not accepted: send the same request again (with the same Idempotency-Key) "
        "after the time in Retry-After",
        title="The store is busy",
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def submit(
    session: Session, services: Services, tenant_id: str, body: SubmissionCreate, idempotency_key: str | None = None
) -> tuple[Submission, bool]:
    """Submit (see `admit_submission`): the submission and whether it is a replay."""
    admitted = admit_submission(session, services, tenant_id, body, idempotency_key)
    return admitted.submission, admitted.replayed


@dataclass(frozen=True)
class Admitted:
    submission: Submission
    replayed: bool
    target: Target | None = None  # where a new submission went (None for a replay)


def admit_submission(
    session: Session, services: Services, tenant_id: str, body: SubmissionCreate, idempotency_key: str | None = None
) -> Admitted:
    """Every admission rule of a submission in one place, for the API and the learner's pages: the URL
    policy, the idempotency key, the published version, attempts, cooldown, due date and rate limits,
    decided and written in one transaction under this learner's admission lock (grader.store.admission).
    Returns the submission (committed, then enqueued) and whether it is a replay of an earlier request
    with this key. Raises ProblemError with the rule that refused it, or 503 `database-busy` when the
    store's lock was not obtained in time (nothing was written; the same request may be sent again)."""
    _check_url(body, services)
    body_hash = submissions.request_hash(body.model_dump())
    wait_s = services.settings.request_db_wait_s
    try:
        if idempotency_key:
            existing = _replay(session, tenant_id, idempotency_key, body_hash)
            if existing is not None:
                return Admitted(existing, True)
        target, tenant_limit = _target(session, tenant_id, body)
    except OperationalError as exc:  # even a read can wait on a lock (PostgreSQL): past the wait, nothing done
        session.rollback()
        raise _busy(StoreBusy(f"the store did not answer within {wait_s:g} s; nothing was saved"), wait_s) from exc
    try:
        with admission(session, tenant_id, target.assignment_id, body.learner, wait_s):
            if idempotency_key:  # a request with this key may have committed while this one waited
                existing = _replay(session, tenant_id, idempotency_key, body_hash)
                if existing is not None:
                    return Admitted(existing, True)
            lock_tenant_rates(session, tenant_id, wait_s)
            submission = _admit(session, services, tenant_id, target, body, tenant_limit)
            submission.idempotency_key = idempotency_key
            submission.request_hash = body_hash
            if not submissions.insert_new_submission(session, submission):
                # The unique indexes refused it; under the lock only a request with the same key can.
                existing = _replay(session, tenant_id, idempotency_key, body_hash) if idempotency_key else None
                if existing is None:
                    raise ProblemError(409, "conflict", "a concurrent request conflicted with this one; retry it")
                return Admitted(existing, True)
    except StoreBusy as exc:
        raise _busy(exc, wait_s) from exc
    _enqueue_new(services, submission.id)
    return Admitted(submission, False, target)


@router.post(
    "",
    status_code=201,
    response_model=SubmissionOut,
    responses={200: {"model": SubmissionOut, "description": "A replay of an earlier request with this key"}},
)
def create_submission(
    body: SubmissionCreate,
    response: Response,
    session: SessionDep,
    services: ServicesDep,
    who: SubmitOnly,
    idempotency_key: IdempotencyKey = None,
) -> SubmissionOut | JSONResponse:
    """Submit a repository for grading. The answer comes at once; grading runs on a worker."""
    admitted = admit_submission(session, services, who.tenant_id, body, idempotency_key)
    submission = admitted.submission
    if admitted.target is None:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
        return view(session, submission)
    # Built from what this request wrote: the answer needs no read after the commit, and being a
    # SubmissionOut already, it is sent as it is rather than validated again on the way out.
    out = _out(submission, admitted.target.assignment, admitted.target.version)
    return JSONResponse(
        out.model_dump(mode="json"), status_code=201, headers={"Location": f"/api/v1/submissions/{submission.id}"}
    )


@router.get("", response_model=SubmissionPage)
def list_submissions(
    session: SessionDep,
    who: SubmitCaller,
    assignment: Annotated[str | None, Query(max_length=64)] = None,
    learner: Annotated[str | None, Query(max_length=320)] = None,
    state: Annotated[SubmissionState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SubmissionPage:
    assignment_id = None
    if assignment is not None:
        found = catalog.assignment_by_slug(session, who.tenant_id, assignment)
        if found is None:
            return SubmissionPage(items=[], next_offset=None)
        assignment_id = found.id
    rows = submissions.page_of_submissions(
        session, who.tenant_id, assignment_id=assignment_id, learner=learner, state=state, offset=offset, limit=limit + 1
    )
    more = len(rows) > limit
    return SubmissionPage(items=views(session, who.tenant_id, rows[:limit]), next_offset=offset + limit if more else None)


def _own(session: Session, tenant_id: str, submission_id: str) -> Submission:
    submission = submissions.get_submission(session, tenant_id, submission_id)
    if submission is None:
        raise not_found("submission", submission_id)
    return submission


@router.get("/{submission_id}", response_model=SubmissionOut)
def get_submission(submission_id: str, session: SessionDep, who: SubmitCaller) -> SubmissionOut:
    return view(session, _own(session, who.tenant_id, submission_id))


@router.get("/{submission_id}/history", response_model=list[EventOut])
def submission_history(submission_id: str, session: SessionDep, who: SubmitCaller) -> list[EventOut]:
    """Every state the submission went through, oldest first."""
    _own(session, who.tenant_id, submission_id)
    return [
        EventOut.model_validate(e, from_attributes=True)
        for e in submissions.events_after(session, who.tenant_id, submission_id, 0)
    ]


def _poll(services: Services, tenant_id: str, submission_id: str, after: int) -> tuple[list[EventOut], bool]:
    with session_scope(services.factory) as session:
        events = submissions.events_after(session, tenant_id, submission_id, after)
        submission = submissions.get_submission(session, tenant_id, submission_id)
        done = submission is None or SubmissionState(submission.state).terminal
        return [EventOut.model_validate(e, from_attributes=True) for e in events], done


def last_event_after(last_event_id: str | None) -> int:
    return int(last_event_id) if last_event_id and last_event_id.isdigit() else 0


def event_stream(
    request: Request, services: Services, tenant_id: str, submission_id: str, start_after: int
) -> EventSourceResponse:
    """Server-Sent Events of a submission the caller may read (checked by the caller): one `state`
    event per change, then `end` once it is finished. The API's stream and the learner's page use it."""

    async def stream() -> AsyncIterator[ServerSentEvent]:
        after = start_after
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            events, done = await anyio.to_thread.run_sync(_poll, services, tenant_id, submission_id, after)
            for event in events:
                after = event.id
                yield ServerSentEvent(data=event.model_dump_json(), event="state", id=str(event.id))
            if done:
                yield ServerSentEvent(data=json.dumps({"submission_id": submission_id}), event="end")
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.5)

    return EventSourceResponse(stream(), ping=15)


@router.get(
    "/{submission_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events of state changes"}},
)
async def follow_submission(
    submission_id: str,
    request: Request,
    services: ServicesDep,
    who: SubmitCaller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse:
    """Live progress: one `state` event per change, then `end` once the submission is finished.
    Reconnect with `Last-Event-ID` to resume where the stream broke."""
    await anyio.to_thread.run_sync(_check_own, services, who.tenant_id, submission_id)  # a query: off the loop
    return event_stream(request, services, who.tenant_id, submission_id, last_event_after(last_event_id))


def _check_own(services: Services, tenant_id: str, submission_id: str) -> None:
    with session_scope(services.factory) as session:
        _own(session, tenant_id, submission_id)


def _graded(session: Session, tenant_id: str, submission_id: str) -> tuple[Submission, GradeRecord, AssignmentVersion]:
    submission = _own(session, tenant_id, submission_id)
    grade = submissions.latest_grade(session, submission)
    if grade is None:
        raise ProblemError(
            409, "not-graded-yet", f"submission {submission_id} is {submission.state}; it has no grade yet"
        )
    version = session.get(AssignmentVersion, grade.assignment_version_id)
    assert version is not None
    return submission, grade, version


@router.get(
    "/{submission_id}/feedback",
    response_model=FeedbackOut,
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
)
def feedback(
    submission_id: str,
    session: SessionDep,
    who: SubmitCaller,
    format: Annotated[Literal["json", "markdown", "html"], Query()] = "json",
) -> FeedbackOut | Response:
    """What the learner may see: hidden tests are shown as the spec's `feedback.hidden_tests` says."""
    submission, record, version = _graded(session, who.tenant_id, submission_id)
    spec = AssignmentSpec.model_validate(version.spec)
    # Every field below comes from the learner view, never from the stored grade: flag details there
    # name hidden tests and canaries.
    learner = learner_view(Grade.model_validate(record.grade), spec, record.learner_output)
    markdown = render_markdown(learner)
    if format == "markdown":
        return PlainTextResponse(markdown, media_type="text/markdown; charset=utf-8")
    if format == "html":
        return HTMLResponse(render_html(learner))
    return FeedbackOut(
        submission_id=submission.id,
        assignment=spec.id,
        version=spec.version,
        score=learner.score,
        max_score=learner.max_score,
        percent=learner.percent,
        passed=learner.passed,
        late=submission.late,
        reason=learner.reason,
        criteria=learner.criteria,
        suites=learner.suites,
        flags=learner.flags,
        markdown=markdown,
    )


@router.get("/{submission_id}/grade", response_model=GradeOut)
def full_grade(submission_id: str, session: SessionDep, who: SubmitCaller) -> GradeOut:
    """The whole grade, hidden tests included: for course authors (scope `author`), not learners."""
    if not ({"author", "admin"} & who.scopes):
        raise ProblemError(403, "insufficient-scope", "the full grade shows hidden tests; it needs scope author")
    submission, record, _ = _graded(session, who.tenant_id, submission_id)
    return GradeOut(
        submission_id=submission.id,
        run=record.run,
        grade=Grade.model_validate(record.grade),
        evidence=Evidence.model_validate(record.evidence),
        timings=record.timings,
        learner_output=record.learner_output,
        created_at=record.created_at,
    )
