"""`grader lti`: a tenant's LMS (LTI 1.3) registrations, its Dynamic Registration invitation, the tool's
URLs and signing keys. The API (`/api/v1/lti`) and the admin page (`/author/lti`) do the same."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from grader.config import get_settings
from grader.jobs.services import store_sessions
from grader.lti import keys as tool_keys
from grader.lti import registration as lti_registration
from grader.store import lti as store
from grader.store import tenancy
from grader.store.db import session_scope
from grader.store.models import LtiRegistration, Tenant

lti_app = typer.Typer(help="LMS (LTI 1.3) registrations of a tenant.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant slug")]


def _tenant(session: Session, slug: str) -> Tenant:
    found = tenancy.tenant_by_slug(session, slug)
    if found is None:
        typer.echo(f"no tenant {slug!r}", err=True)
        raise typer.Exit(1)
    return found


def _registration(session: Session, tenant: Tenant, registration_id: str) -> LtiRegistration:
    found = store.registration_of(session, tenant.id, registration_id)
    if found is None:
        typer.echo(f"no LTI registration {registration_id!r} in tenant {tenant.slug!r}", err=True)
        raise typer.Exit(1)
    return found


def _describe(session: Session, row: LtiRegistration) -> dict[str, object]:
    return {
        "id": row.id,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "auth_login_url": row.auth_login_url,
        "token_url": row.token_url,
        "jwks_url": row.jwks_url,
        "deployments": store.deployments_of(session, row),
        "source": row.source,
        "active": row.active,
    }


@lti_app.command("list")
def list_registrations(
    tenant: TenantOpt, as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False
) -> None:
    """The tenant's registrations."""
    with session_scope(store_sessions(get_settings())) as session:
        found = _tenant(session, tenant)
        described = [_describe(session, r) for r in store.registrations_of(session, found.id)]
        lines = [
            f"{r.id}  {'active' if r.active else 'disabled':8} {r.issuer}  client {r.client_id}  "
            f"deployments {','.join(store.deployments_of(session, r)) or '-'}"
            for r in store.registrations_of(session, found.id)
        ]
    typer.echo(json.dumps(described) if as_json else "\n".join(lines) or "no registrations")


@lti_app.command("add")
def add(
    tenant: TenantOpt,
    issuer: Annotated[str, typer.Option(help="The platform's issuer (iss)")],
    client_id: Annotated[str, typer.Option(help="The client id the platform gave this tool")],
    auth_login_url: Annotated[str, typer.Option(help="The platform's OIDC authorization URL")],
    token_url: Annotated[str, typer.Option(help="The platform's OAuth 2 token URL")],
    jwks_url: Annotated[str, typer.Option(help="The platform's JWKS URL")],
    deployment: Annotated[
        list[str] | None, typer.Option("--deployment", "-d", help="A deployment id (repeatable)")
    ] = None,
    name: Annotated[str, typer.Option(help="A name for people")] = "",
    token_audience: Annotated[str, typer.Option(help="aud of the client assertion, if not the token URL")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Register a platform by hand."""
    fields = {
        "issuer": issuer,
        "client_id": client_id,
        "auth_login_url": auth_login_url,
        "token_url": token_url,
        "jwks_url": jwks_url,
        "deployments": " ".join(deployment or []),
        "name": name,
        "token_audience": token_audience,
    }
    try:
        data = lti_registration.registration_in(fields)
        lti_registration.check_platform_urls(get_settings(), data)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    with session_scope(store_sessions(get_settings())) as session:
        try:
            row = store.create_registration(session, _tenant(session, tenant).id, data)
        except store.RegistrationConflict as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        described = _describe(session, row)
    typer.echo(json.dumps(described) if as_json else f"registered {described['id']}")


@lti_app.command("remove")
def remove(tenant: TenantOpt, registration_id: Annotated[str, typer.Argument(help="Registration id")]) -> None:
    """Remove a registration with its courses, placements and platform users."""
    with session_scope(store_sessions(get_settings())) as session:
        session.delete(_registration(session, _tenant(session, tenant), registration_id))
    typer.echo(f"removed {registration_id}")


def _set_active(tenant: str, registration_id: str, active: bool) -> None:
    with session_scope(store_sessions(get_settings())) as session:
        _registration(session, _tenant(session, tenant), registration_id).active = active
    typer.echo(f"{registration_id} {'enabled' if active else 'disabled'}")


@lti_app.command("disable")
def disable(tenant: TenantOpt, registration_id: Annotated[str, typer.Argument(help="Registration id")]) -> None:
    """Refuse the registration's launches (and end its instructors' sessions)."""
    _set_active(tenant, registration_id, False)


@lti_app.command("enable")
def enable(tenant: TenantOpt, registration_id: Annotated[str, typer.Argument(help="Registration id")]) -> None:
    """Accept the registration's launches again."""
    _set_active(tenant, registration_id, True)


@lti_app.command("deployment")
def deployment(
    tenant: TenantOpt,
    registration_id: Annotated[str, typer.Argument(help="Registration id")],
    deployment_id: Annotated[str, typer.Argument(help="The deployment id the platform shows")],
    remove_it: Annotated[bool, typer.Option("--remove", help="Remove it instead of adding it")] = False,
) -> None:
    """Add (or --remove) a deployment id of a registration."""
    with session_scope(store_sessions(get_settings())) as session:
        row = _registration(session, _tenant(session, tenant), registration_id)
        changed = (
            store.remove_deployment(session, row, deployment_id)
            if remove_it
            else store.add_deployment(session, row, deployment_id)
        )
    typer.echo(f"{'removed' if remove_it else 'added'} {deployment_id}" if changed else "nothing to change")


@lti_app.command("invite")
def invite(tenant: TenantOpt) -> None:
    """Print the Dynamic Registration URL to give a platform (valid a week)."""
    settings = get_settings()
    with session_scope(store_sessions(settings)) as session:
        typer.echo(lti_registration.invite(settings, _tenant(session, tenant)))


@lti_app.command("urls")
def urls(tenant: TenantOpt) -> None:
    """The tool's URLs for a manual registration in the platform."""
    settings = get_settings()
    with session_scope(store_sessions(settings)) as session:
        found = _tenant(session, tenant)
    endpoints = lti_registration.endpoints(settings)
    endpoints["config"] += f"?tenant={found.slug}"
    for name, url in endpoints.items():
        typer.echo(f"{name:9} {url}")


@lti_app.command("rotate-key")
def rotate_key() -> None:
    """Make a new signing key for the tool (the old one stays published). Needs GRADER_KEY_PASSPHRASE."""
    settings = get_settings()
    with session_scope(store_sessions(settings)) as session:
        row = tool_keys.create_key(session, settings)
        typer.echo(f"new active key {row.kid}")
