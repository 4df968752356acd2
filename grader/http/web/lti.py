"""The LTI 1.3 routes (docs/lti.md): the tool's JWKS, OIDC login initiation, the launch, Deep Linking, the
Canvas-style configuration, Dynamic Registration, the course roster and the admin's registrations page.

A launch is a cross-site POST from the platform. The session cookie (SameSite=Lax) set on its answer is
kept by the browser and sent with the 303 that follows, a top-level GET to our own origin; nothing here
depends on a cookie the platform's page would have to send. Every refusal is a page naming the failed
check, with a 4xx status, and a log line.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.core.errors import SystemFault
from grader.http.deps import SessionDep, services
from grader.http.web.author import Author, _author
from grader.http.web.forms import flash, see_other, take_flash
from grader.http.web.rendering import render
from grader.http.web.sessions import SignedIn, check_csrf, sign_in
from grader.lti import claims as lti_claims
from grader.lti import keys as tool_keys
from grader.lti import launch as lti_launch
from grader.lti import nrps
from grader.lti import registration as lti_registration
from grader.lti.errors import LtiRefused
from grader.lti.platform_keys import PlatformKeys, fetcher
from grader.store import lti as store
from grader.store import tenancy
from grader.store.models import LtiRegistration, Tenant

router = APIRouter(include_in_schema=False)


def _kv(request: Request) -> lti_launch.KeyValue:
    found: lti_launch.KeyValue = services(request).redis
    return found


def platform_keys(request: Request) -> PlatformKeys:
    """The app's JWKS cache (one per app, shared by its requests)."""
    found = getattr(request.app.state, "lti_platform_keys", None)
    if not isinstance(found, PlatformKeys):
        found = PlatformKeys(fetch=fetcher(services(request).settings))
        request.app.state.lti_platform_keys = found
    return found


def refused(request: Request, refusal: LtiRefused, where: str) -> HTMLResponse:
    lti_launch.log_refusal(refusal, where)
    return render(request, "lti/error.html", refusal.status, check=refusal.check, detail=refusal.detail, where=where)


def _tenant(session: Session, reference: str | None) -> Tenant:
    tenant = tenancy.tenant_by_slug(session, reference) if reference else None
    if tenant is None and reference:
        tenant = session.get(Tenant, reference)
    if tenant is None:
        raise LtiRefused(
            "tenant", f"no school {reference!r} here" if reference else "name a school: ?tenant=<slug>", 404
        )
    return tenant


# Keys and configuration ---------------------------------------------------------------------------------


@router.get("/lti/jwks")
def jwks(request: Request, session: SessionDep) -> JSONResponse:
    """The tool's public keys (kid, alg RS256, use sig): Deep Linking responses and service assertions."""
    document = tool_keys.jwks(session)
    if not document["keys"]:
        tool_keys.ensure_key(session, services(request).settings)
        session.commit()
        document = tool_keys.jwks(session)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


@router.get("/lti/config.json", response_model=None)
def canvas_config(request: Request, session: SessionDep, tenant: str | None = None) -> Response:
    try:
        found = _tenant(session, tenant)
    except LtiRefused as refusal:
        return JSONResponse({"error": refusal.check, "detail": refusal.detail}, status_code=refusal.status)
    return JSONResponse(lti_registration.canvas_configuration(services(request).settings, found))


# Login and launch ------------------------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, str]:
    values = {k: v for k, v in request.query_params.items()}
    if request.method == "POST":
        form = await request.form()
        values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {k: v[:2048] for k, v in values.items()}


@router.api_route("/lti/login", methods=["GET", "POST"], response_model=None)
async def oidc_login(request: Request) -> Response:
    """Third-party-initiated login: answer with the platform's authorization URL (state and nonce kept)."""
    params = await _params(request)
    wanted = lti_launch.LoginRequest(
        iss=params.get("iss"),
        login_hint=params.get("login_hint"),
        target_link_uri=params.get("target_link_uri"),
        lti_message_hint=params.get("lti_message_hint"),
        client_id=params.get("client_id"),
        lti_deployment_id=params.get("lti_deployment_id"),
    )
    service = services(request)
    with service.factory() as session:
        try:
            url = lti_launch.login(session, _kv(request), service.settings, wanted)
        except LtiRefused as refusal:
            return refused(request, refusal, "login")
    return RedirectResponse(url, status_code=302 if request.method == "GET" else 303)


@router.post("/lti/launch", response_model=None)
def launch(
    request: Request,
    session: SessionDep,
    id_token: Annotated[str | None, Form(max_length=65536)] = None,
    state: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    """The redirect_uri: check everything, then sign the user in and send them on."""
    settings = services(request).settings
    try:
        registration, checked = lti_launch.validate(
            session,
            _kv(request),
            settings,
            platform_keys(request),
            id_token=id_token,
            state=state,
            now=time.time(),
        )
        recorded = lti_launch.record(session, registration, checked)
        # The services' assertions (grade passback, roster) sign with the tool's key: have it published now.
        tool_keys.ensure_key(session, settings)
        tenant = session.get(Tenant, registration.tenant_id)
        assert tenant is not None
        if checked.message_type == lti_claims.DEEP_LINKING_REQUEST:
            handle = lti_launch.start_deep_link(_kv(request), registration, checked, recorded.user)
            session.commit()
            _sign_in(request, tenant, recorded, instructor=True)
            return render(
                request,
                "lti/deep_link.html",
                handle=handle,
                assignments=lti_launch.published(session, tenant.id),
                course=checked.context_title or checked.context_label,
            )
        if recorded.assignment is None and checked.instructor:
            session.commit()
            _sign_in(request, tenant, recorded, instructor=True)
            flash(
                request, "This course link names no assignment yet: place one from the course with Deep Linking.", "bad"
            )
            return see_other("/author")
        if recorded.assignment is None:
            raise LtiRefused(
                "assignment",
                "this course link names no assignment of this school; the instructor can place one with Deep Linking",
                status=404,
            )
        session.commit()
    except LtiRefused as refusal:
        session.rollback()
        return refused(request, refusal, "launch")
    _sign_in(request, tenant, recorded, instructor=checked.instructor)
    if checked.instructor:
        return see_other(f"/author/assignments/{recorded.assignment.slug}")
    return see_other(f"/learn/assignments/{recorded.assignment.slug}")


def _sign_in(request: Request, tenant: Tenant, recorded: lti_launch.Recorded, *, instructor: bool) -> None:
    sign_in(
        request,
        SignedIn(
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            role="author" if instructor else "learner",
            learner=None if instructor else recorded.user.learner,
            lti_user_id=recorded.user.id,
            lti_context_id=recorded.context.id if recorded.context is not None else None,
        ),
    )


# Deep Linking -------------------------------------------------------------------------------------------


@router.post("/lti/deep-link", response_model=None)
def deep_link(
    request: Request,
    session: SessionDep,
    handle: Annotated[str | None, Form(max_length=200)] = None,
    assignment: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """The instructor's pick: an auto-submitting form posting the signed LtiDeepLinkingResponse to the
    platform's deep_link_return_url."""
    settings = services(request).settings
    try:
        pending = lti_launch.take_deep_link(_kv(request), handle)
        registration = store.registration_by_id(session, str(pending["registration_id"]))
        if registration is None or not registration.active:
            raise LtiRefused("registration", "the platform's registration was removed or disabled", 403)
        picked = _pick(session, settings, registration, assignment)
        items = [picked] if picked is not None else []
        key = tool_keys.signing_key(session, settings, registration.tenant_id)
        session.commit()
    except LtiRefused as refusal:
        return refused(request, refusal, "deep link")
    jwt_claims = lti_claims.deep_linking_response(
        client_id=registration.client_id,
        issuer=registration.issuer,
        deployment_id=str(pending["deployment_id"]),
        nonce=secrets.token_urlsafe(16),
        now=int(time.time()),
        items=items,
        data=pending.get("data"),
    )
    return_url = str(pending["return_url"])
    page = render(request, "lti/deep_link_return.html", return_url=return_url, jwt=tool_keys.sign(key, jwt_claims))
    # The one form of ours that leaves our origin: to the platform's return URL, named in a signed launch.
    page.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        f"form-action {lti_claims.origin(return_url)}; base-uri 'none'"
    )
    return page


def _pick(
    session: Session, settings: Settings, registration: LtiRegistration, reference: str | None
) -> dict[str, Any] | None:
    if not reference:
        return None  # "cancel": an empty content_items tells the platform nothing was chosen
    for found, points in lti_launch.published(session, registration.tenant_id):
        if found.slug == reference:
            return lti_claims.resource_link_item(
                url=lti_launch.redirect_uri(settings),
                title=found.title,
                assignment=found.slug,
                score_maximum=points,
            )
    raise LtiRefused("assignment", f"no published assignment {reference!r} in this school", 404)


# Dynamic Registration ---------------------------------------------------------------------------------


@router.get("/lti/register", response_class=HTMLResponse)
def register(
    request: Request,
    session: SessionDep,
    invite: Annotated[str | None, Query(max_length=1000)] = None,
    openid_configuration: Annotated[str | None, Query(max_length=2048)] = None,
    registration_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> HTMLResponse:
    """Opened by the platform (in a window or a frame): register, then tell the platform to close us."""
    settings = services(request).settings
    try:
        tenant = session.get(Tenant, lti_registration.invited_tenant(settings, invite))
        if tenant is None:
            raise LtiRefused("invite", "the school this invitation names no longer exists", 403)
        made = lti_registration.register_dynamically(
            session, settings, tenant, configuration_url=openid_configuration, registration_token=registration_token
        )
        deployments = store.deployments_of(session, made)
        session.commit()
    except LtiRefused as refusal:
        session.rollback()
        return refused(request, refusal, "registration")
    return render(request, "lti/registered.html", registration=made, deployments=deployments, tenant=tenant)


# The course roster (Names and Roles) --------------------------------------------------------------------


@router.get("/lti/contexts/{context_id}/roster", response_class=HTMLResponse)
def roster(context_id: str, request: Request, session: SessionDep) -> HTMLResponse:
    author = _author(request, session)
    context = store.context_of(session, author.tenant_id, context_id)
    if context is None:
        return refused(request, LtiRefused("context", f"no course {context_id!r} here", 404), "roster")
    try:
        members = nrps.roster(session, context.id, settings=services(request).settings)
        error = None
    except SystemFault as exc:
        members, error = [], str(exc)
    return render(
        request, "lti/roster.html", 200 if error is None else 502, context=context, members=members, error=error
    )


# Registrations (admin page) ------------------------------------------------------------------------------


def _admin(request: Request, session: Session) -> Author:
    author = _author(request, session)
    if not author.admin:
        raise LtiRefused("scope", "the LMS registrations page needs an admin key", 403)
    return author


def _registrations_page(
    request: Request, session: Session, tenant_id: str, status: int = 200, **extra: Any
) -> HTMLResponse:
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    settings = services(request).settings
    rows = [(r, store.deployments_of(session, r)) for r in store.registrations_of(session, tenant_id)]
    context: dict[str, Any] = {
        "rows": rows,
        "tenant": tenant,
        "urls": lti_registration.endpoints(settings),
        "invite": lti_registration.invite(settings, tenant),
        "error": None,
        "form": {},
        "flash": take_flash(request),
    }
    context.update(extra)
    return render(request, "lti/registrations.html", status, **context)


@router.get("/author/lti", response_class=HTMLResponse)
def registrations_page(request: Request, session: SessionDep) -> HTMLResponse:
    try:
        author = _admin(request, session)
    except LtiRefused as refusal:
        return refused(request, refusal, "registrations")
    return _registrations_page(request, session, author.tenant_id)


@router.post("/author/lti/registrations", response_model=None)
def add_registration(
    request: Request,
    session: SessionDep,
    issuer: Annotated[str, Form(max_length=500)] = "",
    client_id: Annotated[str, Form(max_length=255)] = "",
    auth_login_url: Annotated[str, Form(max_length=2048)] = "",
    token_url: Annotated[str, Form(max_length=2048)] = "",
    jwks_url: Annotated[str, Form(max_length=2048)] = "",
    deployments: Annotated[str, Form(max_length=4000)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        author = _admin(request, session)
    except LtiRefused as refusal:
        return refused(request, refusal, "registrations")
    form = {
        "issuer": issuer,
        "client_id": client_id,
        "auth_login_url": auth_login_url,
        "token_url": token_url,
        "jwks_url": jwks_url,
        "deployments": deployments,
        "name": name,
    }
    try:
        data = lti_registration.registration_in(form)
        lti_registration.check_platform_urls(services(request).settings, data)
        made = store.create_registration(session, author.tenant_id, data)
    except (ValueError, store.RegistrationConflict) as exc:
        session.rollback()
        return _registrations_page(request, session, author.tenant_id, 422, error=str(exc), form=form)
    session.commit()
    flash(request, f"Registered {made.issuer} (client id {made.client_id}).")
    return see_other("/author/lti")


@router.post("/author/lti/registrations/{registration_id}/toggle", response_model=None)
def toggle_registration(
    registration_id: str,
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        author = _admin(request, session)
    except LtiRefused as refusal:
        return refused(request, refusal, "registrations")
    found = store.registration_of(session, author.tenant_id, registration_id)
    if found is None:
        return refused(
            request, LtiRefused("registration", f"no registration {registration_id!r} here", 404), "registrations"
        )
    found.active = not found.active
    session.commit()
    flash(request, f"{found.issuer} ({found.client_id}) is {'enabled' if found.active else 'disabled'}.")
    return see_other("/author/lti")


@router.post("/author/lti/registrations/{registration_id}/deployments", response_model=None)
def add_deployment(
    registration_id: str,
    request: Request,
    session: SessionDep,
    deployment_id: Annotated[str, Form(max_length=255)] = "",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    try:
        author = _admin(request, session)
    except LtiRefused as refusal:
        return refused(request, refusal, "registrations")
    found = store.registration_of(session, author.tenant_id, registration_id)
    if found is None:
        return refused(
            request, LtiRefused("registration", f"no registration {registration_id!r} here", 404), "registrations"
        )
    if not deployment_id.strip():
        flash(request, "Enter the deployment id the platform shows for this tool.", "bad")
        return see_other("/author/lti")
    store.add_deployment(session, found, deployment_id.strip())
    session.commit()
    flash(request, f"Deployment {deployment_id.strip()} added.")
    return see_other("/author/lti")
