"""The course author's pages: sign in by exchanging an author- or admin-scoped API key once for a session,
assignments and their versions (checking, published, refused), uploading a spec folder as a .tar.gz
(the same path as `POST /api/v1/assignments`), a version's check table, class results (score
distribution, per-criterion pass rates, submissions needing attention), regrade and revoke, and the
gradebook as CSV.

The session holds the tenant and the key's id, never the key. Every request looks the key up again:
a key revoked (or stripped of its scope) ends the session at once. Every query is filtered by the
session's tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from grader.core.policy import Scope, has_any_scope
from grader.http.api import credentials as credentials_api
from grader.http.api.assignments import Upload, accept_tarball, capped_form
from grader.http.api.assignments import regrade_submissions as regrade_rows
from grader.http.api.gradebook import gradebook_response
from grader.http.deps import Caller, SessionDep, services
from grader.http.problems import FieldError, ProblemError
from grader.http.schemas import CheckRowOut, RegradeIn, RevokeIn
from grader.http.web.classresults import class_results
from grader.http.web.forms import flash, problem_text, redirect, see_other, take_flash
from grader.http.web.rendering import render
from grader.http.web.sessions import SignedIn, check_csrf, sign_in, sign_out, signed_in
from grader.lti.gradebook import export as gradebook_export
from grader.store import catalog, issued, submissions, tenancy
from grader.store import lti as lti_store
from grader.store.archive import MAX_ARCHIVE_BYTES
from grader.store.models import Assignment, AssignmentVersion, Tenant, VersionStatus

router = APIRouter(include_in_schema=False)
SIGN_IN = "/author/sign-in"


@dataclass(frozen=True)
class Author:
    who: SignedIn
    scopes: frozenset[str]

    @property
    def tenant_id(self) -> str:
        return self.who.tenant_id

    @property
    def admin(self) -> bool:
        return has_any_scope(self.scopes, [Scope.ADMIN])

    def caller(self) -> Caller:
        """For the API functions the pages call (they take the caller the API would have)."""
        key_id = self.who.key_id or f"lti:{self.who.lti_user_id}"
        return Caller(key_id=key_id, tenant_id=self.who.tenant_id, scopes=self.scopes)


def _author(request: Request, session: Session) -> Author:
    """The signed-in author, after checking their key again: not revoked, still author or admin."""
    who = signed_in(request)
    if who is not None and who.role == "author" and who.lti_user_id:
        return _lti_author(request, session, who)
    if who is None or who.role != "author" or not who.key_id:
        raise redirect(SIGN_IN, "sign in first")
    key = tenancy.api_key_of(session, who.tenant_id, who.key_id)
    if key is None or key.revoked_at is not None or not has_any_scope(key.scopes, [Scope.AUTHOR]):
        sign_out(request)
        flash(request, "Your session ended: the API key it was opened with was revoked. Sign in again.", "bad")
        raise redirect(SIGN_IN, "the session's key was revoked")
    return Author(who=who, scopes=frozenset(key.scopes))


def _lti_author(request: Request, session: Session, who: SignedIn) -> Author:
    """An instructor signed in by an LMS launch (grader.http.web.lti): author scope while their platform
    registration stays active and their last launch gave them a teaching role."""
    assert who.lti_user_id is not None
    if not lti_store.instructor_still(session, who.tenant_id, who.lti_user_id):
        sign_out(request)
        raise redirect(SIGN_IN, "the LMS registration of this session was disabled")
    return Author(who=who, scopes=frozenset({Scope.AUTHOR.value}))


# Signing in ------------------------------------------------------------------------------------------


@router.get("/author/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "author/sign_in.html", error=None, flash=take_flash(request))


@router.post("/author/sign-in", response_model=None)
def exchange_key(
    request: Request,
    session: SessionDep,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    key = tenancy.authenticate(session, api_key.strip()) if api_key.strip() else None
    if key is None:
        error = "That API key is unknown or revoked. Paste the whole key, gk_ and all."
        return render(request, "author/sign_in.html", 401, error=error, flash=None)
    if not has_any_scope(key.scopes, [Scope.AUTHOR]):
        error = "That key cannot open the author pages: it needs the author or admin scope (it has " + (
            ", ".join(key.scopes) or "none"
        ) + ")."
        return render(request, "author/sign_in.html", 403, error=error, flash=None)
    tenant = session.get(Tenant, key.tenant_id)
    assert tenant is not None
    sign_in(request, SignedIn(tenant_id=tenant.id, tenant_slug=tenant.slug, role="author", key_id=key.id))
    return see_other("/author")


# Assignments, versions, uploads ------------------------------------------------------------------------


def _assignments(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    out = []
    for assignment in catalog.assignments_of(session, tenant_id):
        versions = catalog.versions_of(session, assignment)
        out.append({"assignment": assignment, "versions": list(reversed(versions))})
    return out


def _home(request: Request, session: Session, author: Author, status_code: int = 200, **extra: Any) -> HTMLResponse:
    context: dict[str, Any] = {
        "items": _assignments(session, author.tenant_id),
        "errors": [],
        "error": None,
        "flash": take_flash(request),
        "max_mb": MAX_ARCHIVE_BYTES // (1024 * 1024),
    }
    context.update(extra)
    return render(request, "author/home.html", status_code, **context)


@router.get("/author", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    return _home(request, session, _author(request, session))


@router.post(
    "/author/upload",
    response_model=None,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"archive": {"type": "string", "format": "binary"}, "csrf_token": {"type": "string"}},
                    }
                }
            }
        }
    },
)
async def upload(request: Request, session: SessionDep) -> Response:
    # The form is parsed here from the capped stream (grader.http.api.assignments.capped_form), not by
    # FastAPI ahead of the handler, which would spool an upload of any size before the cap applies.
    form = await capped_form(request, max_files=1)
    try:
        token = form.get("csrf_token")
        check_csrf(request, token if isinstance(token, str) else None)
        # The store's reads (the author, the page's lists) run on a worker thread too, never the loop.
        author = await anyio.to_thread.run_sync(_author, request, session)
        archive = form.get("archive")
        if not isinstance(archive, StarletteUpload) or not archive.filename:
            missing = "Choose the assignment folder as a .tar.gz file."
            return await anyio.to_thread.run_sync(lambda: _home(request, session, author, 422, error=missing))
        data = await archive.read(MAX_ARCHIVE_BYTES + 1)
    finally:
        await form.close()
    folder = Upload()
    try:
        # Unpacking, validation and the store's write are synchronous: on a worker thread, never the loop.
        result = await anyio.to_thread.run_sync(accept_tarball, session, services(request), author.tenant_id, data, folder)
    except ProblemError as refused:
        session.rollback()
        errors: list[FieldError] = refused.errors or []
        status = refused.status if 400 <= refused.status < 500 else 503
        summary = (
            f"{archive.filename} was not accepted: the assignment has {len(errors)} error(s)."
            if refused.code == "invalid-assignment"
            else f"{archive.filename} was not accepted. {problem_text(refused)}"
        )
        page = await anyio.to_thread.run_sync(
            lambda: _home(request, session, author, status, error=summary, errors=errors)
        )
        return page
    finally:
        folder.close()
    slug, number = result.assignment.slug, result.version.version
    if result.created:
        flash(request, f"Uploaded {slug} {number}: it is being checked against its own solutions.")
    else:
        flash(request, f"{slug} {number} was already uploaded with these files; nothing changed.", "info")
    return see_other(f"/author/assignments/{slug}/versions/{number}")


def _own_assignment(session: Session, author: Author, slug: str) -> Assignment:
    assignment = catalog.assignment_by_slug(session, author.tenant_id, slug)
    if assignment is None:
        raise ProblemError(404, "not-found", f"no assignment {slug!r} here")
    return assignment


def _own_version(session: Session, author: Author, slug: str, number: str) -> tuple[Assignment, AssignmentVersion]:
    assignment = _own_assignment(session, author, slug)
    version = catalog.pick_version(session, assignment, number)
    if version is None:
        raise ProblemError(404, "not-found", f"no version {number!r} of {slug!r} here")
    return assignment, version


@router.get("/author/assignments/{slug}/versions/{number}", response_class=HTMLResponse)
def version_page(slug: str, number: str, request: Request, session: SessionDep) -> HTMLResponse:
    author = _author(request, session)
    assignment, version = _own_version(session, author, slug, number)
    report = version.check_report or {}
    return render(
        request,
        "author/version.html",
        assignment=assignment,
        version=version,
        rows=[CheckRowOut.model_validate(row) for row in report.get("rows", [])],
        problems=[str(p) for p in report.get("problems", [])],
        flash=take_flash(request),
    )


@router.get("/author/assignments/{slug}/versions/{number}/status.json")
def version_status(slug: str, number: str, request: Request, session: SessionDep) -> JSONResponse:
    """What the version page's script polls while a check runs."""
    author = _author(request, session)
    _, version = _own_version(session, author, slug, number)
    return JSONResponse({"status": VersionStatus(version.status).value})


# Class results, regrade, revoke, gradebook ---------------------------------------------------------------


@router.get("/author/assignments/{slug}", response_class=HTMLResponse)
def assignment_page(slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    author = _author(request, session)
    assignment = _own_assignment(session, author, slug)
    rows = submissions.class_rows(session, author.tenant_id, assignment.id)
    versions = {v.id: v for v in catalog.versions_of(session, assignment)}
    return render(
        request,
        "author/assignment.html",
        assignment=assignment,
        versions=list(reversed(versions.values())),
        version_of={vid: v.version for vid, v in versions.items()},
        results=class_results(rows),
        admin=author.admin,
        flash=take_flash(request),
    )


@router.post("/author/assignments/{slug}/regrade", response_model=None)
def regrade(
    slug: str,
    request: Request,
    session: SessionDep,
    submission_id: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    author = _author(request, session)
    assignment = _own_assignment(session, author, slug)
    body = RegradeIn(submission_ids=[submission_id] if submission_id else None)
    if submission_id and submissions.get_submission(session, author.tenant_id, submission_id) is None:
        raise ProblemError(404, "not-found", f"no submission {submission_id!r} here")
    try:
        done = regrade_rows(session, services(request), assignment, body)
    except ProblemError as refused:
        session.rollback()
        flash(request, f"Nothing was regraded. {problem_text(refused)}", "bad")
        return see_other(f"/author/assignments/{slug}")
    count = len(done.submission_ids)
    flash(request, f"Regrading {count} submission{'' if count == 1 else 's'} against version {done.version}.")
    return see_other(f"/author/assignments/{slug}")


@router.post("/author/credentials/{credential_id}/revoke", response_model=None)
def revoke(
    credential_id: str,
    request: Request,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    author = _author(request, session)
    credential = issued.credential_of(session, author.tenant_id, credential_id)
    if credential is None:
        raise ProblemError(404, "not-found", f"no credential {credential_id!r} here")
    target = back if back.startswith("/author/") and "//" not in back else "/author"
    if not author.admin:
        flash(request, "Revoking a credential needs an admin key; this session's key is author-scoped.", "bad")
        return see_other(target)
    # The API's own revocation: the status list bit, the webhook, once only.
    credentials_api.revoke(credential_id, RevokeIn(reason=reason.strip()), session, services(request), author.caller())
    flash(request, f"Credential {credential_id} is revoked; every verifier now sees it as revoked.")
    return see_other(target)


@router.get("/author/assignments/{slug}/gradebook.{fmt}")
def gradebook_download(slug: str, fmt: str, request: Request, session: SessionDep, roster: bool = False) -> Response:
    """The gradebook export (grader.lti.gradebook), the same as `GET /api/v1/assignments/{id}/gradebook`;
    `?roster=true` adds the LMS courses' learners who have not submitted."""
    author = _author(request, session)
    assignment = _own_assignment(session, author, slug)
    if fmt not in ("csv", "json"):
        raise ProblemError(404, "not-found", f"no gradebook format {fmt!r}: csv or json")
    chosen: Literal["csv", "json"] = "csv" if fmt == "csv" else "json"
    done = gradebook_export(session, services(request).settings, author.tenant_id, assignment, chosen, roster)
    return gradebook_response(assignment.slug, done.text, fmt)
