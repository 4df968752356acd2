"""Queries of the LMS tables (migration 0004): registrations and their deployments, contexts, resource
links, platform users and the tool's signing keys. Every query of tenant data names the tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.store.models import (
    LtiContext,
    LtiDeployment,
    LtiRegistration,
    LtiResourceLink,
    LtiToolKey,
    LtiUser,
    utcnow,
)


class RegistrationConflict(Exception):
    """Another registration already has this (issuer, client_id)."""


@dataclass(frozen=True)
class RegistrationIn:
    issuer: str
    client_id: str
    auth_login_url: str
    token_url: str
    jwks_url: str
    deployments: Sequence[str] = ()
    name: str = ""
    token_audience: str | None = None
    source: str = "manual"


# Registrations ---------------------------------------------------------------------------------------


def create_registration(session: Session, tenant_id: str, data: RegistrationIn) -> LtiRegistration:
    """Raises RegistrationConflict when (issuer, client_id) is taken (by any tenant: a platform's client id
    names one tool registration)."""
    taken = session.scalar(
        select(LtiRegistration.id).where(
            LtiRegistration.issuer == data.issuer, LtiRegistration.client_id == data.client_id
        )
    )
    if taken is not None:
        raise RegistrationConflict(f"a registration for issuer {data.issuer!r} and client id {data.client_id!r} exists")
    row = LtiRegistration(
        tenant_id=tenant_id,
        name=data.name,
        issuer=data.issuer,
        client_id=data.client_id,
        auth_login_url=data.auth_login_url,
        token_url=data.token_url,
        jwks_url=data.jwks_url,
        token_audience=data.token_audience,
        source=data.source,
    )
    session.add(row)
    session.flush()
    for deployment in dict.fromkeys(data.deployments):
        add_deployment(session, row, deployment)
    return row


def registrations_of(session: Session, tenant_id: str) -> list[LtiRegistration]:
    return list(
        session.scalars(
            select(LtiRegistration).where(LtiRegistration.tenant_id == tenant_id).order_by(LtiRegistration.created_at)
        )
    )


def registration_of(session: Session, tenant_id: str, registration_id: str) -> LtiRegistration | None:
    return session.scalar(
        select(LtiRegistration).where(LtiRegistration.tenant_id == tenant_id, LtiRegistration.id == registration_id)
    )


def registration_by_id(session: Session, registration_id: str) -> LtiRegistration | None:
    """Any tenant's: for the launch, which learns the tenant from the registration."""
    return session.get(LtiRegistration, registration_id)


def active_registrations_for(session: Session, issuer: str, client_id: str | None) -> list[LtiRegistration]:
    """The active registrations of `issuer` (with `client_id`, at most one)."""
    query = select(LtiRegistration).where(LtiRegistration.issuer == issuer, LtiRegistration.active.is_(True))
    if client_id is not None:
        query = query.where(LtiRegistration.client_id == client_id)
    return list(session.scalars(query.order_by(LtiRegistration.created_at)))


def deployments_of(session: Session, registration: LtiRegistration) -> list[str]:
    return list(
        session.scalars(
            select(LtiDeployment.deployment_id)
            .where(LtiDeployment.tenant_id == registration.tenant_id, LtiDeployment.registration_id == registration.id)
            .order_by(LtiDeployment.created_at)
        )
    )


def add_deployment(session: Session, registration: LtiRegistration, deployment_id: str) -> bool:
    """Add a deployment id; False when it was there already."""
    if deployment_id in deployments_of(session, registration):
        return False
    session.add(
        LtiDeployment(tenant_id=registration.tenant_id, registration_id=registration.id, deployment_id=deployment_id)
    )
    session.flush()
    return True


def remove_deployment(session: Session, registration: LtiRegistration, deployment_id: str) -> bool:
    row = session.scalar(
        select(LtiDeployment).where(
            LtiDeployment.tenant_id == registration.tenant_id,
            LtiDeployment.registration_id == registration.id,
            LtiDeployment.deployment_id == deployment_id,
        )
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# What launches leave behind ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextIn:
    context_id: str
    deployment_id: str
    title: str = ""
    label: str = ""
    ags_lineitems_url: str | None = None
    ags_scopes: Sequence[str] = ()
    nrps_memberships_url: str | None = None


def upsert_context(session: Session, registration: LtiRegistration, data: ContextIn) -> LtiContext:
    """The course as the latest launch describes it (its service endpoints may change between launches)."""
    row = session.scalar(
        select(LtiContext).where(
            LtiContext.tenant_id == registration.tenant_id,
            LtiContext.registration_id == registration.id,
            LtiContext.context_id == data.context_id,
        )
    )
    if row is None:
        row = LtiContext(tenant_id=registration.tenant_id, registration_id=registration.id, context_id=data.context_id)
        session.add(row)
    row.deployment_id = data.deployment_id
    row.title = data.title[:500]
    row.label = data.label[:255]
    row.ags_lineitems_url = data.ags_lineitems_url
    row.ags_scopes = list(data.ags_scopes)
    row.nrps_memberships_url = data.nrps_memberships_url
    row.updated_at = utcnow()
    session.flush()
    return row


def context_of(session: Session, tenant_id: str, context_row_id: str) -> LtiContext | None:
    return session.scalar(select(LtiContext).where(LtiContext.tenant_id == tenant_id, LtiContext.id == context_row_id))


def resource_link_of(session: Session, context: LtiContext, resource_link_id: str) -> LtiResourceLink | None:
    return session.scalar(
        select(LtiResourceLink).where(
            LtiResourceLink.tenant_id == context.tenant_id,
            LtiResourceLink.lti_context_id == context.id,
            LtiResourceLink.resource_link_id == resource_link_id,
        )
    )


def upsert_resource_link(
    session: Session,
    context: LtiContext,
    resource_link_id: str,
    *,
    assignment_id: str | None,
    title: str,
    lineitem_url: str | None,
) -> LtiResourceLink:
    """Record the placement; a launch without a line item keeps the one already known."""
    row = resource_link_of(session, context, resource_link_id)
    if row is None:
        row = LtiResourceLink(tenant_id=context.tenant_id, lti_context_id=context.id, resource_link_id=resource_link_id)
        session.add(row)
    if assignment_id is not None:
        row.assignment_id = assignment_id
    row.title = title[:500]
    if lineitem_url is not None:
        row.ags_lineitem_url = lineitem_url
    row.updated_at = utcnow()
    session.flush()
    return row


def user_of(session: Session, registration: LtiRegistration, sub: str) -> LtiUser | None:
    return session.scalar(
        select(LtiUser).where(
            LtiUser.tenant_id == registration.tenant_id, LtiUser.registration_id == registration.id, LtiUser.sub == sub
        )
    )


def user_by_id(session: Session, tenant_id: str, user_id: str) -> LtiUser | None:
    return session.scalar(select(LtiUser).where(LtiUser.tenant_id == tenant_id, LtiUser.id == user_id))


def instructor_still(session: Session, tenant_id: str, user_id: str) -> bool:
    """Whether the platform user still opens author pages: their registration is active and their last
    launch carried a teaching role."""
    user = user_by_id(session, tenant_id, user_id)
    if user is None:
        return False
    registration = registration_of(session, tenant_id, user.registration_id)
    if registration is None or not registration.active:
        return False
    return any(role.rsplit("#", 1)[-1].rsplit("/", 1)[-1] in ("Instructor", "Administrator") for role in user.roles)


def users_of_learner(session: Session, tenant_id: str, learner: str) -> list[LtiUser]:
    """The platform users signed in as `learner` (for "the LMS user id of this learner")."""
    return list(session.scalars(select(LtiUser).where(LtiUser.tenant_id == tenant_id, LtiUser.learner == learner)))


def upsert_user(
    session: Session,
    registration: LtiRegistration,
    sub: str,
    *,
    learner: str,
    name: str,
    email: str | None,
    roles: Sequence[str],
) -> LtiUser:
    """The platform user; `learner` is used only the first time (the mapping is kept afterwards)."""
    row = user_of(session, registration, sub)
    if row is None:
        row = LtiUser(tenant_id=registration.tenant_id, registration_id=registration.id, sub=sub, learner=learner)
        session.add(row)
    row.name = name[:300]
    row.email = email
    row.roles = list(roles)
    row.last_launch_at = utcnow()
    session.flush()
    return row


# The tool's keys ---------------------------------------------------------------------------------------


def tool_keys(session: Session, tenant_id: str | None = None) -> list[LtiToolKey]:
    """The keys of one tenant (None: the service-wide ones), oldest first."""
    query = select(LtiToolKey).where(
        LtiToolKey.tenant_id.is_(None) if tenant_id is None else LtiToolKey.tenant_id == tenant_id
    )
    return list(session.scalars(query.order_by(LtiToolKey.created_at)))


def all_tool_keys(session: Session) -> list[LtiToolKey]:
    return list(session.scalars(select(LtiToolKey).order_by(LtiToolKey.created_at)))


def tool_key_by_kid(session: Session, kid: str) -> LtiToolKey | None:
    return session.scalar(select(LtiToolKey).where(LtiToolKey.kid == kid))
