"""OIDC login initiation and launch validation (the I/O around grader.lti.claims), then what a valid
launch leaves in the store (course, placement, platform user) and who it signs in.

State without a cross-site cookie: the login stores a random `state` in Redis with the registration and
a fresh nonce (10 minutes); the launch must bring that state back, it is taken with GETDEL (so it serves
once), the id_token must be signed by that registration's platform and carry that nonce, and the nonce is
then marked used (SET NX) for longer than any id_token lives. A browser with third-party cookies blocked
launches like any other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import jwt
from sqlalchemy.orm import Session

from grader.config import Settings
from grader.lti import claims as lti_claims
from grader.lti.claims import Launch
from grader.lti.errors import LtiRefused
from grader.lti.platform_keys import PlatformKeys
from grader.store import catalog
from grader.store import lti as store
from grader.store.models import Assignment, LtiContext, LtiRegistration, LtiResourceLink, LtiUser, VersionStatus

log = logging.getLogger("grader.lti")

STATE_SECONDS = 600
NONCE_SECONDS = lti_claims.MAX_AGE_SECONDS + 2 * lti_claims.SKEW_SECONDS
DEEP_LINK_SECONDS = 1800
LAUNCH_PATH = "/lti/launch"
# The learner pages' rule for an email address (grader.http.web.learner): a platform's that breaks it is not used.
EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


class KeyValue(Protocol):
    """The part of Redis the launch uses."""

    def set(self, name: str, value: str, *, ex: int | None = None, nx: bool = False) -> Any: ...

    def getdel(self, name: str) -> Any: ...


def tool_origin(settings: Settings) -> str:
    return lti_claims.origin(settings.public_url)


def redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + LAUNCH_PATH


# Login ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRequest:
    iss: str | None
    login_hint: str | None
    target_link_uri: str | None
    lti_message_hint: str | None = None
    client_id: str | None = None
    lti_deployment_id: str | None = None


def find_registration(
    session: Session, iss: str, client_id: str | None, deployment_id: str | None = None
) -> LtiRegistration:
    """The registration a login names: by issuer and client id, or, when the platform sent no client id,
    the one registration of the issuer that has the deployment. Raises LtiRefused('iss' or 'client_id')."""
    found = store.active_registrations_for(session, iss, client_id)
    if len(found) > 1 and deployment_id:
        found = [r for r in found if deployment_id in store.deployments_of(session, r)] or found
    if not found:
        named = f" and client id {client_id!r}" if client_id else ""
        raise LtiRefused("iss", f"no platform registered here with issuer {iss!r}{named}", status=404)
    if len(found) > 1:
        raise LtiRefused(
            "client_id", f"several registrations share the issuer {iss!r}; the platform must send its client_id"
        )
    return found[0]


def login(session: Session, kv: KeyValue, settings: Settings, request: LoginRequest) -> str:
    """The URL of the platform's authorization endpoint to send the browser to. Raises LtiRefused naming
    the missing or refused parameter."""
    if not request.iss:
        raise LtiRefused("iss", "the login request has no 'iss' parameter")
    if not request.login_hint:
        raise LtiRefused("login_hint", "the login request has no 'login_hint' parameter")
    if not request.target_link_uri:
        raise LtiRefused("target_link_uri", "the login request has no 'target_link_uri' parameter")
    if lti_claims.origin(request.target_link_uri) != tool_origin(settings):
        raise LtiRefused("target_link_uri", f"the target {request.target_link_uri!r} is not on this tool")
    registration = find_registration(session, request.iss, request.client_id, request.lti_deployment_id)
    if request.lti_deployment_id and request.lti_deployment_id not in store.deployments_of(session, registration):
        raise LtiRefused(
            "deployment_id", f"the deployment {request.lti_deployment_id!r} is not registered here", status=403
        )
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    record = {"registration_id": registration.id, "nonce": nonce}
    kv.set(f"lti:state:{state}", json.dumps(record), ex=STATE_SECONDS)
    params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": redirect_uri(settings),
        "login_hint": request.login_hint,
        "state": state,
        "nonce": nonce,
    }
    if request.lti_message_hint:
        params["lti_message_hint"] = request.lti_message_hint
    separator = "&" if urlsplit(registration.auth_login_url).query else "?"
    return registration.auth_login_url + separator + urlencode(params)


# Launch -----------------------------------------------------------------------------------------------


def _take_state(kv: KeyValue, state: str | None) -> dict[str, Any]:
    if not state:
        raise LtiRefused("state", "the launch has no 'state'; start again from the course")
    raw = kv.getdel(f"lti:state:{state[:200]}")
    if raw is None:
        raise LtiRefused("state", "the launch's state is unknown, expired or already used; start again from the course")
    record: dict[str, Any] = json.loads(raw)
    return record


def verify_signature(id_token: str, registration: LtiRegistration, keys: PlatformKeys) -> dict[str, Any]:
    """The id_token's claims once its RS256 signature checks against the platform's JWKS. Raises
    LtiRefused('id_token', 'alg', 'kid' or 'signature')."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError as exc:
        raise LtiRefused("id_token", "the id_token is not a JWT") from exc
    if header.get("alg") != "RS256":
        raise LtiRefused("alg", f"the id_token is signed with {header.get('alg')!r}; only RS256 is accepted", 401)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LtiRefused("kid", "the id_token's header names no key (kid)", 401)
    key = keys.key(registration.jwks_url, kid)
    try:
        decoded: dict[str, Any] = jwt.decode(
            id_token,
            key=key.key,
            algorithms=["RS256"],
            options={
                "verify_signature": True,
                "verify_exp": False,  # the time and audience checks are grader.lti.claims', with clearer errors
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise LtiRefused("signature", "the id_token's signature does not verify with the platform's key", 401) from exc
    except jwt.InvalidTokenError as exc:
        raise LtiRefused("id_token", f"the id_token cannot be read ({exc})") from exc
    return decoded


def validate(
    session: Session,
    kv: KeyValue,
    settings: Settings,
    keys: PlatformKeys,
    *,
    id_token: str | None,
    state: str | None,
    now: float,
) -> tuple[LtiRegistration, Launch]:
    """Every check of a launch: state, signature, the claims, nonce bound to the login and used once.
    Raises LtiRefused naming the failed check."""
    record = _take_state(kv, state)
    if not id_token:
        raise LtiRefused("id_token", "the launch has no 'id_token'")
    registration = store.registration_by_id(session, str(record.get("registration_id")))
    if registration is None or not registration.active:
        raise LtiRefused("registration", "the platform's registration was removed or disabled", status=403)
    decoded = verify_signature(id_token, registration, keys)
    expected = lti_claims.Expected(
        issuer=registration.issuer,
        client_id=registration.client_id,
        deployments=frozenset(store.deployments_of(session, registration)),
        tool_origin=tool_origin(settings),
        now=now,
    )
    launch = lti_claims.check_launch(decoded, expected)
    if not secrets.compare_digest(launch.nonce, str(record.get("nonce", ""))):
        raise LtiRefused("nonce", "the id_token's nonce is not the one this login sent")
    if not kv.set(f"lti:nonce:{registration.issuer}:{launch.nonce[:200]}", "1", ex=NONCE_SECONDS, nx=True):
        raise LtiRefused("nonce", "this id_token's nonce was used already: a launch is accepted once")
    return registration, launch


# What a launch leaves behind ------------------------------------------------------------------------


def learner_identity(registration: LtiRegistration, launch: Launch) -> str:
    """The tenant's learner a platform user signs in as: their email when the platform shares it (the
    tenant trusts its platform as it trusts its mail), else a stable name under the reserved `.invalid`
    domain, so nothing is ever mailed to it."""
    email = (launch.email or "").strip()
    if len(email) <= 254 and EMAIL.match(email):
        local, _, domain = email.partition("@")
        return f"{local}@{domain.lower()}"
    digest = hashlib.sha256(f"{registration.id}\n{launch.sub}".encode()).hexdigest()[:20]
    return f"lti-{digest}@lms.invalid"


@dataclass(frozen=True)
class Recorded:
    user: LtiUser
    context: LtiContext | None
    link: LtiResourceLink | None
    assignment: Assignment | None


def find_assignment(session: Session, tenant_id: str, reference: str) -> Assignment | None:
    """An assignment of the tenant named by its id (the spec's id, i.e. its slug) or its row id."""
    found = catalog.assignment_by_slug(session, tenant_id, reference)
    if found is None:
        candidate = session.get(Assignment, reference)
        found = candidate if candidate is not None and candidate.tenant_id == tenant_id else None
    return found


def published(session: Session, tenant_id: str) -> list[tuple[Assignment, float]]:
    """The tenant's assignments that take submissions, each with its score maximum (the rubric's points)."""
    out = []
    for assignment in catalog.assignments_of(session, tenant_id):
        version = catalog.pick_version(session, assignment, None)
        if version is not None and version.status == VersionStatus.PUBLISHED:
            rubric: Mapping[str, Any] = version.spec.get("rubric", {})
            points = sum(float(c.get("points", 0)) for c in rubric.get("criteria", []))
            out.append((assignment, round(points, 2)))
    return out


def record(session: Session, registration: LtiRegistration, launch: Launch) -> Recorded:
    """Store the platform user, the course and the placement the launch names; find its assignment (the
    custom `assignment` parameter, else the placement's earlier one)."""
    user = store.upsert_user(
        session,
        registration,
        launch.sub,
        learner=learner_identity(registration, launch),
        name=launch.name,
        email=launch.email,
        roles=launch.roles,
    )
    context = None
    if launch.context_id is not None:
        context = store.upsert_context(
            session,
            registration,
            store.ContextIn(
                context_id=launch.context_id,
                deployment_id=launch.deployment_id,
                title=launch.context_title,
                label=launch.context_label,
                ags_lineitems_url=launch.ags_lineitems,
                ags_scopes=launch.ags_scopes,
                nrps_memberships_url=launch.nrps_memberships_url,
            ),
        )
    assignment = None
    reference = launch.custom.get("assignment")
    if reference:
        assignment = find_assignment(session, registration.tenant_id, reference)
    link = None
    if context is not None and launch.resource_link_id is not None:
        link = store.upsert_resource_link(
            session,
            context,
            launch.resource_link_id,
            assignment_id=assignment.id if assignment is not None else None,
            title=launch.resource_link_title,
            lineitem_url=launch.ags_lineitem,
        )
        if assignment is None and link.assignment_id is not None:
            found = session.get(Assignment, link.assignment_id)
            assignment = found if found is not None and found.tenant_id == registration.tenant_id else None
    return Recorded(user=user, context=context, link=link, assignment=assignment)


# Deep Linking ------------------------------------------------------------------------------------------


def start_deep_link(kv: KeyValue, registration: LtiRegistration, launch: Launch, user: LtiUser) -> str:
    """Keep what the deep linking response needs under a random id (the picker form carries it back)."""
    if not launch.instructor:
        raise LtiRefused("roles", "only an instructor can place an assignment in a course", status=403)
    assert launch.deep_link is not None
    handle = secrets.token_urlsafe(32)
    value = {
        "registration_id": registration.id,
        "deployment_id": launch.deployment_id,
        "return_url": launch.deep_link.return_url,
        "data": launch.deep_link.data,
        "user_id": user.id,
    }
    kv.set(f"lti:deep-link:{handle}", json.dumps(value), ex=DEEP_LINK_SECONDS)
    return handle


def take_deep_link(kv: KeyValue, handle: str | None) -> dict[str, Any]:
    """The deep link started by `start_deep_link`, once. Raises LtiRefused('deep_link')."""
    raw = kv.getdel(f"lti:deep-link:{(handle or '')[:200]}") if handle else None
    if raw is None:
        raise LtiRefused("deep_link", "this placement was already sent, or has expired; start again from the course")
    found: dict[str, Any] = json.loads(raw)
    return found


def log_refusal(refusal: LtiRefused, where: str) -> None:
    log.warning("lti %s refused: check=%s status=%d detail=%s", where, refusal.check, refusal.status, refusal.detail)
