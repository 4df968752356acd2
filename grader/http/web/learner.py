"""The learner's pages: sign in by a one-time link sent by mail (where no LMS signs learners in), pick a
published assignment, submit a repository, follow the grading live, read the feedback, and reach the
credential's public page after a pass.

A learner session is a tenant and an email. Every query names both: a learner sees only their own
submissions, in their own tenant. Submitting goes through `grader.http.api.submissions.submit`, the same
admission rules as `POST /api/v1/submissions` (URL policy, attempts, cooldown, due date, rate limits).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from grader.core.feedback import learner_view
from grader.core.grade import Grade
from grader.core.spec import AssignmentSpec
from grader.http.api.submissions import event_stream, last_event_after, submit
from grader.http.deps import SessionDep, services
from grader.http.problems import ProblemError
from grader.http.schemas import SubmissionCreate
from grader.http.web.forms import flash, problem_text, redirect, see_other, take_flash
from grader.http.web.outbox import write_mail
from grader.http.web.rendering import render
from grader.http.web.review import ownership_context, review_status
from grader.http.web.sessions import SignedIn, check_csrf, sign_in, signed_in
from grader.store import catalog, signin, submissions, tenancy
from grader.store.models import (
    Assignment,
    AssignmentVersion,
    Submission,
    SubmissionState,
    Tenant,
    VersionStatus,
    utcnow,
)

router = APIRouter(include_in_schema=False)

EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
LINKS_PER_WINDOW = 5
LINK_WINDOW = timedelta(minutes=15)
# The stages a grading goes through, in order, as the progress bar counts them.
STAGES: list[tuple[str, str]] = [
    ("queued", "Queued"),
    ("fetching", "Fetching your repository"),
    ("building", "Building"),
    ("running", "Running the tests"),
    ("judging", "Scoring"),
    ("issuing", "Issuing the credential"),
    ("notifying", "Notifying"),
    ("graded", "Graded"),
]
STAGE_INDEX = {state: i for i, (state, _) in enumerate(STAGES)}


def _tenant(session: Session, slug: str) -> Tenant:
    tenant = tenancy.tenant_by_slug(session, slug)
    if tenant is None:
        raise ProblemError(404, "not-found", f"no school {slug!r} here")
    return tenant


def _learner(request: Request) -> SignedIn:
    who = signed_in(request)
    if who is None or who.role != "learner" or not who.learner:
        raise redirect("/learn/sign-in", "sign in first")
    return who


def _email(raw: str) -> str | None:
    email = raw.strip()
    if len(email) > 254 or not EMAIL.match(email):
        return None
    local, _, domain = email.partition("@")
    return f"{local}@{domain.lower()}"


# Signing in ------------------------------------------------------------------------------------------


@router.get("/learn/sign-in", response_class=HTMLResponse)
def which_school(request: Request, session: SessionDep) -> HTMLResponse:
    """Without a tenant in the URL: the schools to sign in at."""
    return render(request, "learner/schools.html", tenants=tenancy.all_tenants(session))


@router.get("/t/{tenant_slug}/sign-in", response_class=HTMLResponse)
def sign_in_form(tenant_slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    tenant = _tenant(session, tenant_slug)
    return render(request, "learner/sign_in.html", tenant=tenant, email="", error=None, flash=take_flash(request))


@router.post("/t/{tenant_slug}/sign-in", response_model=None)
def send_link(
    tenant_slug: str,
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    tenant = _tenant(session, tenant_slug)
    address = _email(email)
    if address is None:
        error = "Enter an email address like name@example.org."
        return render(request, "learner/sign_in.html", 422, tenant=tenant, email=email, error=error, flash=None)
    now = utcnow()
    if signin.links_sent_since(session, tenant.id, address, now - LINK_WINDOW) >= LINKS_PER_WINDOW:
        error = "Several sign-in links were sent to this address in the last minutes; use one of them, or wait."
        return render(request, "learner/sign_in.html", 429, tenant=tenant, email=email, error=error, flash=None)
    settings = services(request).settings
    token = signin.create_link(session, tenant.id, address, settings.sign_in_link_ttl_s, now)
    session.commit()
    link = f"{settings.public_url.rstrip('/')}/t/{tenant.slug}/sign-in/{token}"
    minutes = max(1, settings.sign_in_link_ttl_s // 60)
    write_mail(
        settings,
        address,
        f"Sign in to {tenant.name}",
        f"Hello,\n\nOpen this link to sign in to {tenant.name} (it works once, for {minutes} minutes):\n\n"
        f"{link}\n\nIf you did not ask for it, ignore this mail: nobody can sign in without the link.\n",
    )
    flash(request, f"We sent a sign-in link to {address}. It works once, for {minutes} minutes.")
    return see_other(f"/t/{tenant.slug}/sign-in/sent")


@router.get("/t/{tenant_slug}/sign-in/sent", response_class=HTMLResponse)
def link_sent(tenant_slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    return render(request, "learner/sent.html", tenant=_tenant(session, tenant_slug), flash=take_flash(request))


@router.get("/t/{tenant_slug}/sign-in/{token}", response_class=HTMLResponse)
def confirm_form(tenant_slug: str, token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """The link from the mail asks for one click: a mail scanner that fetches links uses nothing up."""
    return render(request, "learner/confirm.html", tenant=_tenant(session, tenant_slug), token=token[:200])


@router.post("/t/{tenant_slug}/sign-in/confirm", response_model=None)
def confirm(
    tenant_slug: str,
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    tenant = _tenant(session, tenant_slug)
    email = signin.consume_link(session, tenant.id, token) if token else None
    if email is None:
        session.rollback()
        error = "This sign-in link was already used, has expired, or is not one of ours. Ask for a new one."
        return render(request, "learner/sign_in.html", 400, tenant=tenant, email="", error=error, flash=None)
    session.commit()
    sign_in(request, SignedIn(tenant_id=tenant.id, tenant_slug=tenant.slug, role="learner", learner=email))
    return see_other("/learn")


# Assignments and submitting ----------------------------------------------------------------------------


def _published(session: Session, tenant_id: str) -> list[tuple[Assignment, AssignmentVersion]]:
    out = []
    for assignment in catalog.assignments_of(session, tenant_id):
        version = catalog.pick_version(session, assignment, None)
        if version is not None and version.status == VersionStatus.PUBLISHED:
            out.append((assignment, version))
    return out


def _row(session: Session, submission: Submission) -> dict[str, Any]:
    grade = submissions.latest_grade(session, submission)
    credential = submissions.credential_of_submission(session, submission)
    assignment = session.get(Assignment, submission.assignment_id)
    return {
        "submission": submission,
        "assignment": assignment,
        "grade": grade,
        "credential": credential,
        "finished": SubmissionState(submission.state).terminal,
    }


@router.get("/learn", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep) -> HTMLResponse:
    who = _learner(request)
    assert who.learner is not None
    mine = submissions.learner_submissions(session, who.tenant_id, who.learner, limit=50)
    return render(
        request,
        "learner/dashboard.html",
        assignments=_published(session, who.tenant_id),
        rows=[_row(session, s) for s in mine],
        flash=take_flash(request),
    )


def _open_assignment(session: Session, who: SignedIn, slug: str) -> tuple[Assignment, AssignmentVersion]:
    assignment = catalog.assignment_by_slug(session, who.tenant_id, slug)
    version = catalog.pick_version(session, assignment, None) if assignment is not None else None
    if assignment is None or version is None or version.status != VersionStatus.PUBLISHED:
        raise ProblemError(404, "not-found", f"no open assignment {slug!r} here")
    return assignment, version


def _assignment_page(
    request: Request, session: Session, who: SignedIn, slug: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    assert who.learner is not None
    assignment, version = _open_assignment(session, who, slug)
    spec = AssignmentSpec.model_validate(version.spec)
    mine = submissions.learner_submissions(session, who.tenant_id, who.learner, assignment.id)
    counted = [s for s in mine if s.state != SubmissionState.ERROR.value]
    context: dict[str, Any] = {
        "assignment": assignment,
        "version": version,
        "spec": spec,
        "rows": [_row(session, s) for s in mine],
        "attempts_used": len(counted),
        "error": None,
        "repo_url": "",
        "ref": "",
        "form_key": secrets.token_urlsafe(16),
        "flash": take_flash(request),
        "ownership": ownership_context(session, services(request).settings, who, slug, spec.submission.ownership),
    }
    context.update(extra)
    return render(request, "learner/assignment.html", status_code, **context)


@router.get("/learn/assignments/{slug}", response_class=HTMLResponse)
def assignment_page(slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    return _assignment_page(request, session, _learner(request), slug)


@router.post("/learn/assignments/{slug}/submit", response_model=None)
def submit_repository(
    slug: str,
    request: Request,
    session: SessionDep,
    repo_url: Annotated[str, Form(max_length=2048)] = "",
    ref: Annotated[str, Form(max_length=255)] = "",
    form_key: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    who = _learner(request)
    assert who.learner is not None
    _open_assignment(session, who, slug)
    try:
        body = SubmissionCreate(assignment=slug, learner=who.learner, repo_url=repo_url.strip(), ref=ref.strip() or None)
    except ValueError:
        return _assignment_page(
            request, session, who, slug, 422, error="Enter your repository's URL.", repo_url=repo_url, ref=ref
        )
    # The form's own key makes a double click (or a resend after a lost answer) one submission; the
    # learner's hash in it keeps one learner's keys apart from another's.
    key = None
    if form_key:
        owner = hashlib.sha256(f"{who.tenant_id}:{who.learner}".encode()).hexdigest()[:16]
        key = f"web:{owner}:{form_key}"
    try:
        submission, _ = submit(session, services(request), who.tenant_id, body, key)
    except ProblemError as refused:
        session.rollback()
        status = refused.status if 400 <= refused.status < 500 else 503
        return _assignment_page(
            request, session, who, slug, status, error=problem_text(refused), repo_url=repo_url, ref=ref
        )
    return see_other(f"/learn/submissions/{submission.id}")


# A submission: progress, feedback -------------------------------------------------------------------------


def _mine(session: Session, who: SignedIn, submission_id: str) -> Submission:
    assert who.learner is not None
    found = submissions.learner_submission(session, who.tenant_id, who.learner, submission_id)
    if found is None:
        raise ProblemError(404, "not-found", f"no submission {submission_id!r} of yours here")
    return found


def status_of(session: Session, submission: Submission) -> dict[str, Any]:
    """What the progress page shows and its script fetches once the stream has ended."""
    grade = submissions.latest_grade(session, submission)
    credential = submissions.credential_of_submission(session, submission)
    state = SubmissionState(submission.state)
    return {
        "state": state.value,
        "finished": state.terminal,
        "step": STAGE_INDEX.get(state.value, 0) if state != SubmissionState.GRADED else len(STAGES) - 1,
        "score": grade.score if grade else None,
        "max_score": grade.max_score if grade else None,
        "percent": round(grade.percent, 2) if grade else None,
        "passed": grade.passed if grade else None,
        "error": submission.error if state in (SubmissionState.REJECTED, SubmissionState.ERROR) else None,
        "feedback_url": f"/learn/submissions/{submission.id}/feedback" if grade else None,
        "credential_url": f"/api/v1/public/credentials/{credential.id}"
        if credential is not None and credential.revoked_at is None
        else None,
        "review": review_status(session, submission),  # a credential held for an instructor's review
    }


@router.get("/learn/submissions/{submission_id}", response_class=HTMLResponse)
def progress_page(submission_id: str, request: Request, session: SessionDep) -> HTMLResponse:
    who = _learner(request)
    submission = _mine(session, who, submission_id)
    assignment = session.get(Assignment, submission.assignment_id)
    version = session.get(AssignmentVersion, submission.assignment_version_id)
    events = submissions.events_after(session, who.tenant_id, submission.id, 0)
    return render(
        request,
        "learner/progress.html",
        submission=submission,
        assignment=assignment,
        version=version,
        status=status_of(session, submission),
        stages=STAGES,
        events=[e for e in events if e.run == submission.run],
        flash=take_flash(request),
    )


@router.get("/learn/submissions/{submission_id}/status.json")
def progress_status(submission_id: str, request: Request, session: SessionDep) -> JSONResponse:
    who = _learner(request)
    return JSONResponse(status_of(session, _mine(session, who, submission_id)))


@router.get("/learn/submissions/{submission_id}/events", response_model=None)
async def progress_events(
    submission_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> EventSourceResponse | RedirectResponse:
    """The same stream as `GET /api/v1/submissions/{id}/events`, for the signed-in learner's own
    submission (a page holds no API key)."""
    who = signed_in(request)
    if who is None or who.role != "learner" or not who.learner:
        return RedirectResponse("/learn/sign-in", status_code=303)
    found = services(request)
    session = found.factory()
    try:
        _mine(session, who, submission_id)
    finally:
        session.close()
    return event_stream(request, found, who.tenant_id, submission_id, last_event_after(last_event_id))


@router.get("/learn/submissions/{submission_id}/feedback", response_class=HTMLResponse)
def feedback_page(submission_id: str, request: Request, session: SessionDep) -> HTMLResponse:
    who = _learner(request)
    submission = _mine(session, who, submission_id)
    record = submissions.latest_grade(session, submission)
    if record is None:
        flash(request, "This submission has no grade yet: its feedback appears once it is graded.", "info")
        raise redirect(f"/learn/submissions/{submission.id}")
    version = session.get(AssignmentVersion, record.assignment_version_id)
    assert version is not None
    spec = AssignmentSpec.model_validate(version.spec)
    # Only the learner view: the stored grade names hidden tests and canaries in its flags.
    view = learner_view(Grade.model_validate(record.grade), spec, record.learner_output)
    levels = {c.id: c.ordered_levels() for c in spec.rubric.criteria}
    return render(
        request,
        "learner/feedback.html",
        submission=submission,
        view=view,
        levels=levels,
        status=status_of(session, submission),
    )
