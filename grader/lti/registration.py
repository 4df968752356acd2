"""How a platform is registered: by hand (CLI, API, author page), by a Canvas-style JSON configuration the
platform reads, or by LTI Dynamic Registration (1EdTech): the platform opens our registration URL with
`openid_configuration` and `registration_token`; we read its configuration, POST our tool registration
to its registration endpoint with the token, and store the client id and deployment it answers.

A dynamic registration adds a platform that can sign learners in, so it needs the tenant's consent: the
URL the admin gives the platform carries a signed invitation (`invite`, made by `grader lti invite`, the
API or the author page) naming the tenant, valid for a week.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from grader import outbound
from grader.config import Settings, session_secret
from grader.lti import claims as lti_claims
from grader.lti import net
from grader.lti.errors import LtiRefused, PlatformUnavailable
from grader.store import lti as store
from grader.store.models import LtiRegistration, Tenant

TOOL_NAME = "Grader"
INVITE_SECONDS = 7 * 24 * 3600
SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def _base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def endpoints(settings: Settings) -> dict[str, str]:
    base = _base(settings)
    return {
        "login": f"{base}/lti/login",
        "launch": f"{base}/lti/launch",
        "jwks": f"{base}/lti/jwks",
        "config": f"{base}/lti/config.json",
        "register": f"{base}/lti/register",
    }


def canvas_configuration(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    """The JSON a Canvas developer key reads from /lti/config.json: the tool opens in a new window (its
    pages refuse to be framed) and offers Deep Linking in the assignment and link selection placements."""
    urls = endpoints(settings)
    host = urlsplit(settings.public_url).hostname or "localhost"
    placements = [
        {
            "placement": placement,
            "message_type": lti_claims.DEEP_LINKING_REQUEST,
            "target_link_uri": urls["launch"],
            "text": f"{TOOL_NAME}: pick an assignment",
            "windowTarget": "_blank",
        }
        for placement in ("assignment_selection", "link_selection")
    ]
    return {
        "title": f"{TOOL_NAME} ({tenant.name})",
        "description": "Autograded programming assignments with verifiable credentials.",
        "oidc_initiation_url": urls["login"],
        "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"],
        "scopes": SCOPES,
        "extensions": [
            {
                "domain": host,
                "tool_id": f"grader-{tenant.slug}",
                "platform": "canvas.instructure.com",
                "privacy_level": "public",
                "settings": {"text": TOOL_NAME, "placements": placements},
            }
        ],
        "custom_fields": {},
    }


def tool_registration(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    """The client registration we POST to a platform (Dynamic Registration, section 3.3)."""
    urls = endpoints(settings)
    host = urlsplit(settings.public_url).netloc or "localhost"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login"],
        "redirect_uris": [urls["launch"]],
        "client_name": f"{TOOL_NAME} ({tenant.name})",
        "jwks_uri": urls["jwks"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIGURATION: {
            "domain": host,
            "target_link_uri": urls["launch"],
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": lti_claims.DEEP_LINKING_REQUEST, "target_link_uri": urls["launch"], "label": TOOL_NAME},
                {"type": lti_claims.RESOURCE_LINK_REQUEST, "target_link_uri": urls["launch"]},
            ],
        },
    }


def registration_in(fields: dict[str, str], source: str = "manual") -> store.RegistrationIn:
    """A registration from form or CLI fields (deployments: comma- or space-separated). Raises ValueError
    naming the first bad field."""
    values = {k: (v or "").strip() for k, v in fields.items()}
    for name in ("issuer", "client_id", "auth_login_url", "token_url", "jwks_url"):
        if not values.get(name):
            raise ValueError(f"{name}: required")
    for name in ("auth_login_url", "token_url", "jwks_url"):
        if urlsplit(values[name]).scheme not in ("http", "https") or not urlsplit(values[name]).netloc:
            raise ValueError(f"{name}: expected an http(s) URL, got {values[name]!r}")
    deployments = [d for d in values.get("deployments", "").replace(",", " ").split() if d]
    return store.RegistrationIn(
        issuer=values["issuer"],
        client_id=values["client_id"],
        auth_login_url=values["auth_login_url"],
        token_url=values["token_url"],
        jwks_url=values["jwks_url"],
        deployments=deployments,
        name=values.get("name", ""),
        token_audience=values.get("token_audience") or None,
        source=source,
    )


# The service itself calls a platform's token and key set URLs (the login URL is only a browser redirect),
# so a registration may not point them at addresses the outbound guard refuses.
SERVER_SIDE_URLS = ("token_url", "jwks_url")


class PlatformUrlRefused(ValueError):
    """A registration's server-side URL points where the outbound guard refuses to connect."""

    def __init__(self, field: str, refusal: outbound.DestinationRefused) -> None:
        self.field = field
        self.rule = refusal.rule
        super().__init__(f"{field}: {refusal}")


def check_platform_urls(settings: Settings, data: store.RegistrationIn) -> None:
    """Refuse a registration whose token or key set URL the service must never call (loopback, private,
    link-local... unless the operator's allowlist says otherwise). Raises PlatformUrlRefused naming the
    field and the rule."""
    for field in SERVER_SIDE_URLS:
        try:
            outbound.check_destination(settings, getattr(data, field))
        except outbound.DestinationRefused as exc:
            raise PlatformUrlRefused(field, exc) from exc


# Invitations -------------------------------------------------------------------------------------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_secret(settings), salt="grader-lti-register")


def invite(settings: Settings, tenant: Tenant) -> str:
    """The registration URL to give a platform (it appends its own query parameters)."""
    token = _serializer(settings).dumps({"tenant": tenant.id})
    return f"{endpoints(settings)['register']}?{urlencode({'invite': token})}"


def invited_tenant(settings: Settings, token: str | None) -> str:
    """The tenant id an invitation names. Raises LtiRefused('invite')."""
    if not token:
        raise LtiRefused(
            "invite",
            "this registration URL has no invitation; ask the school's admin for theirs (grader lti invite)",
            status=403,
        )
    try:
        payload = _serializer(settings).loads(token, max_age=INVITE_SECONDS)
    except SignatureExpired as exc:
        raise LtiRefused("invite", "this registration invitation has expired; ask for a new one", 403) from exc
    except BadSignature as exc:
        raise LtiRefused("invite", "this registration invitation is not one of ours", 403) from exc
    tenant_id = payload.get("tenant") if isinstance(payload, dict) else None
    if not isinstance(tenant_id, str):
        raise LtiRefused("invite", "this registration invitation names no school", 403)
    return tenant_id


# Dynamic registration ---------------------------------------------------------------------------------


def _url_field(config: dict[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise PlatformUnavailable("openid_configuration", f"the platform's configuration has no URL {name!r}")
    return value


def read_platform(settings: Settings, configuration_url: str, registration_token: str | None) -> dict[str, Any]:
    """The platform's OpenID configuration; its issuer must be on the configuration URL's host (Dynamic
    Registration 3.5.1). Raises PlatformUnavailable('openid_configuration')."""
    headers = {"Authorization": f"Bearer {registration_token}"} if registration_token else {}
    config = net.get_json(settings, configuration_url, "openid_configuration", headers)
    if not isinstance(config, dict):
        raise PlatformUnavailable("openid_configuration", "the platform's configuration is not a JSON object")
    issuer = config.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise PlatformUnavailable("openid_configuration", "the platform's configuration names no issuer")
    if urlsplit(issuer).netloc.lower() != urlsplit(configuration_url).netloc.lower():
        raise LtiRefused(
            "openid_configuration", f"the issuer {issuer!r} is not on the configuration's host ({configuration_url})"
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        _url_field(config, name)
    return config


def register_dynamically(
    session: Session,
    settings: Settings,
    tenant: Tenant,
    *,
    configuration_url: str | None,
    registration_token: str | None,
) -> LtiRegistration:
    """Complete a Dynamic Registration and store it (with the deployment the platform answered). Raises
    LtiRefused or PlatformUnavailable naming what failed."""
    if not configuration_url or urlsplit(configuration_url).scheme not in ("http", "https"):
        raise LtiRefused("openid_configuration", "the registration request has no openid_configuration URL")
    config = read_platform(settings, configuration_url, registration_token)
    headers = {"Authorization": f"Bearer {registration_token}"} if registration_token else {}
    answer = net.post_json(
        settings,
        _url_field(config, "registration_endpoint"),
        tool_registration(settings, tenant),
        "registration",
        headers,
    )
    client_id = answer.get("client_id") if isinstance(answer, dict) else None
    if not isinstance(client_id, str) or not client_id:
        raise PlatformUnavailable("registration", "the platform's registration answer has no client_id")
    tool_config = answer.get(TOOL_CONFIGURATION)
    deployment = tool_config.get("deployment_id") if isinstance(tool_config, dict) else None
    platform = config.get(PLATFORM_CONFIGURATION)
    family = platform.get("product_family_code") if isinstance(platform, dict) else None
    data = store.RegistrationIn(
        issuer=str(config["issuer"]),
        client_id=client_id,
        auth_login_url=_url_field(config, "authorization_endpoint"),
        token_url=_url_field(config, "token_endpoint"),
        jwks_url=_url_field(config, "jwks_uri"),
        deployments=[deployment] if isinstance(deployment, str) and deployment else [],
        name=str(family or urlsplit(str(config["issuer"])).netloc)[:200],
        token_audience=config.get("authorization_server")
        if isinstance(config.get("authorization_server"), str)
        else None,
        source="dynamic",
    )
    try:
        check_platform_urls(settings, data)
    except PlatformUrlRefused as exc:
        raise LtiRefused("registration", str(exc), status=422) from exc
    try:
        return store.create_registration(session, tenant.id, data)
    except store.RegistrationConflict as exc:
        raise LtiRefused("registration", str(exc), status=409) from exc
