"""LMS registrations through the API (admin scope): list, create, read, enable/disable, deployments, and
the Dynamic Registration invitation URL to give a platform. docs/lti.md, "Registrations"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, HttpUrl, UrlConstraints

from grader.http.deps import AdminCaller, ServicesDep, SessionDep
from grader.http.problems import FieldError, ProblemError, not_found
from grader.lti import registration as lti_registration
from grader.store import lti as store
from grader.store.models import LtiRegistration, Tenant

router = APIRouter(prefix="/api/v1/lti", tags=["lti"])


Url = Annotated[HttpUrl, UrlConstraints(max_length=2048)]
DeploymentId = Annotated[str, Field(min_length=1, max_length=255)]


class RegistrationIn(BaseModel):
    issuer: str = Field(min_length=1, max_length=500)
    client_id: str = Field(min_length=1, max_length=255)
    auth_login_url: Url
    token_url: Url
    jwks_url: Url
    deployments: list[DeploymentId] = Field(default=[], max_length=100)
    name: str = Field(default="", max_length=200)
    token_audience: str | None = Field(default=None, max_length=2048)


class RegistrationOut(BaseModel):
    id: str
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    token_url: str
    jwks_url: str
    token_audience: str | None
    deployments: list[str]
    source: str
    active: bool
    created_at: datetime


class RegistrationPatch(BaseModel):
    active: bool


class DeploymentIn(BaseModel):
    deployment_id: DeploymentId


class InviteOut(BaseModel):
    url: str = Field(description="Give this to the platform's Dynamic Registration; valid a week")
    login_url: str
    launch_url: str
    jwks_url: str
    config_url: str


def _out(session: SessionDep, row: LtiRegistration) -> RegistrationOut:
    return RegistrationOut(
        id=row.id,
        name=row.name,
        issuer=row.issuer,
        client_id=row.client_id,
        auth_login_url=row.auth_login_url,
        token_url=row.token_url,
        jwks_url=row.jwks_url,
        token_audience=row.token_audience,
        deployments=store.deployments_of(session, row),
        source=row.source,
        active=row.active,
        created_at=row.created_at,
    )


def _own(session: SessionDep, tenant_id: str, registration_id: str) -> LtiRegistration:
    found = store.registration_of(session, tenant_id, registration_id)
    if found is None:
        raise not_found("LTI registration", registration_id)
    return found


@router.get("/registrations", response_model=list[RegistrationOut])
def list_registrations(session: SessionDep, who: AdminCaller) -> list[RegistrationOut]:
    return [_out(session, r) for r in store.registrations_of(session, who.tenant_id)]


@router.post("/registrations", status_code=201, response_model=RegistrationOut)
def create_registration(
    body: RegistrationIn, session: SessionDep, service: ServicesDep, who: AdminCaller
) -> RegistrationOut:
    """Register a platform. 409 when its (issuer, client_id) is registered already; 422 naming the field
    when its token or key set URL points where the service may not connect (docs/outbound.md)."""
    data = store.RegistrationIn(
        issuer=body.issuer,
        client_id=body.client_id,
        auth_login_url=str(body.auth_login_url),
        token_url=str(body.token_url),
        jwks_url=str(body.jwks_url),
        deployments=[d.strip() for d in body.deployments if d.strip()],
        name=body.name,
        token_audience=body.token_audience,
    )
    try:
        lti_registration.check_platform_urls(service.settings, data)
    except lti_registration.PlatformUrlRefused as exc:
        raise ProblemError(
            422,
            "destination-refused",
            str(exc),
            errors=[FieldError(location=f"body.{exc.field}", message=str(exc))],
        ) from exc
    try:
        row = store.create_registration(session, who.tenant_id, data)
    except store.RegistrationConflict as exc:
        session.rollback()
        raise ProblemError(409, "conflict", str(exc)) from exc
    session.commit()
    return _out(session, row)


@router.get("/registrations/{registration_id}", response_model=RegistrationOut)
def read_registration(registration_id: str, session: SessionDep, who: AdminCaller) -> RegistrationOut:
    return _out(session, _own(session, who.tenant_id, registration_id))


@router.patch("/registrations/{registration_id}", response_model=RegistrationOut)
def patch_registration(
    registration_id: str, body: RegistrationPatch, session: SessionDep, who: AdminCaller
) -> RegistrationOut:
    """Enable or disable: a disabled registration's launches and sessions are refused."""
    row = _own(session, who.tenant_id, registration_id)
    row.active = body.active
    session.commit()
    return _out(session, row)


@router.delete("/registrations/{registration_id}", status_code=204)
def delete_registration(registration_id: str, session: SessionDep, who: AdminCaller) -> Response:
    """Remove a registration with its deployments, courses, placements and platform users."""
    session.delete(_own(session, who.tenant_id, registration_id))
    session.commit()
    return Response(status_code=204)


@router.post("/registrations/{registration_id}/deployments", status_code=201, response_model=RegistrationOut)
def add_deployment(registration_id: str, body: DeploymentIn, session: SessionDep, who: AdminCaller) -> RegistrationOut:
    row = _own(session, who.tenant_id, registration_id)
    if not body.deployment_id.strip():
        raise ProblemError(422, "validation", "deployment_id: must not be blank")
    store.add_deployment(session, row, body.deployment_id.strip())
    session.commit()
    return _out(session, row)


@router.delete("/registrations/{registration_id}/deployments/{deployment_id}", status_code=204)
def remove_deployment(registration_id: str, deployment_id: str, session: SessionDep, who: AdminCaller) -> Response:
    row = _own(session, who.tenant_id, registration_id)
    if not store.remove_deployment(session, row, deployment_id):
        raise not_found("deployment", deployment_id)
    session.commit()
    return Response(status_code=204)


@router.post("/invite", response_model=InviteOut)
def invite(session: SessionDep, service: ServicesDep, who: AdminCaller) -> InviteOut:
    """The Dynamic Registration URL of this tenant and the tool's URLs, for a manual registration."""
    tenant = session.get(Tenant, who.tenant_id)
    assert tenant is not None
    urls = lti_registration.endpoints(service.settings)
    return InviteOut(
        url=lti_registration.invite(service.settings, tenant),
        login_url=urls["login"],
        launch_url=urls["launch"],
        jwks_url=urls["jwks"],
        config_url=f"{urls['config']}?tenant={tenant.slug}",
    )
