"""The 1EdTech Security Framework checks of an LTI 1.3 id_token, on claims already decoded and signature
checked (grader.lti.launch does the I/O: state, nonce store, JWKS). Pure: data in, a `Launch` out, or
`LtiRefused` naming the failed check.

Checks, in order: iss; aud contains our client_id; azp required and equal to it when aud has several
values (and equal to it whenever present); exp and iat within a small skew; nonce present; a known
deployment_id; message_type one we handle; version 1.3.0; target_link_uri on our own origin; sub present
(a launch without a user has nobody to sign in).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grader.lti.errors import LtiRefused

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGE_TYPES = frozenset({RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST})
LTI_VERSION = "1.3.0"
SKEW_SECONDS = 60  # clock difference tolerated between the platform and us
MAX_AGE_SECONDS = 3600  # an id_token issued longer ago than this is refused even if exp says otherwise


@dataclass(frozen=True)
class Expected:
    """What one registration expects of a launch."""

    issuer: str
    client_id: str
    deployments: Collection[str]
    tool_origin: str  # scheme://host[:port] of our public URL
    now: float


@dataclass(frozen=True)
class DeepLinkSettings:
    return_url: str
    data: str | None
    accept_types: tuple[str, ...]
    accept_multiple: bool


@dataclass(frozen=True)
class Launch:
    """A launch that passed every check: what the rest of the tool needs of it."""

    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    sub: str
    nonce: str
    name: str
    email: str | None
    roles: tuple[str, ...]
    target_link_uri: str
    context_id: str | None = None
    context_title: str = ""
    context_label: str = ""
    resource_link_id: str | None = None
    resource_link_title: str = ""
    custom: Mapping[str, str] = field(default_factory=dict)
    ags_lineitems: str | None = None
    ags_lineitem: str | None = None
    ags_scopes: tuple[str, ...] = ()
    nrps_memberships_url: str | None = None
    deep_link: DeepLinkSettings | None = None

    @property
    def instructor(self) -> bool:
        return is_instructor(self.roles)


def is_instructor(roles: Collection[str]) -> bool:
    """Instructor or Administrator, in the context, the institution or the system (LIS v2 vocabulary, or
    the short forms some platforms send)."""
    for role in roles:
        tail = role.rsplit("#", 1)[-1] if "#" in role else role.rsplit("/", 1)[-1]
        if tail in ("Instructor", "Administrator"):
            return True
    return False


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _text(claims: Mapping[str, Any], name: str, check: str, *, required: bool = True) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        if required:
            raise LtiRefused(check, f"the id_token has no {name!r} claim")
        return None
    if not isinstance(value, str):
        raise LtiRefused(check, f"the id_token's {name!r} claim is not a string")
    return value


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LtiRefused(name, f"the id_token has no numeric {name!r} claim")
    return float(value)


def audiences(claims: Mapping[str, Any]) -> list[str]:
    """`aud` as a list (a single string or an array of strings); LtiRefused('aud') otherwise."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise LtiRefused("aud", "the id_token has no 'aud' claim (a string or an array of strings)")


def check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    """aud contains client_id; with several audiences azp is required and equals it; a present azp
    always equals it. Raises LtiRefused('aud' or 'azp')."""
    auds = audiences(claims)
    if client_id not in auds:
        raise LtiRefused("aud", f"the id_token is addressed to {auds!r}, not to this tool's client id {client_id!r}")
    azp = claims.get("azp")
    if len(auds) > 1 and azp is None:
        raise LtiRefused("azp", "the id_token has several audiences and no 'azp' claim naming this tool")
    if azp is not None and azp != client_id:
        raise LtiRefused("azp", f"the id_token's azp {azp!r} is not this tool's client id {client_id!r}")


def check_times(claims: Mapping[str, Any], now: float, skew: float = SKEW_SECONDS) -> None:
    """exp in the future and iat not in the future (both within `skew`), iat not older than an hour.
    Raises LtiRefused('exp' or 'iat')."""
    exp = _number(claims, "exp")
    iat = _number(claims, "iat")
    if exp + skew < now:
        raise LtiRefused("exp", "the id_token has expired; launch again from the course")
    if iat - skew > now:
        raise LtiRefused("iat", "the id_token is dated in the future (iat); the platform's clock or the token is wrong")
    if iat + MAX_AGE_SECONDS + skew < now:
        raise LtiRefused("iat", "the id_token was issued too long ago; launch again from the course")


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _object(claims: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = claims.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LtiRefused("claims", f"the id_token's {name!r} claim is not an object")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def check_launch(claims: Mapping[str, Any], expected: Expected) -> Launch:
    """Every claim check of the Security Framework and the LTI core message; raises LtiRefused naming the
    first failed check."""
    iss = _text(claims, "iss", "iss")
    if iss != expected.issuer:
        raise LtiRefused("iss", f"the id_token's issuer {iss!r} is not this registration's {expected.issuer!r}")
    check_audience(claims, expected.client_id)
    check_times(claims, expected.now)
    nonce = _text(claims, "nonce", "nonce")
    deployment_id = _text(claims, DEPLOYMENT_ID, "deployment_id")
    assert deployment_id is not None and nonce is not None
    if deployment_id not in expected.deployments:
        raise LtiRefused(
            "deployment_id", f"the deployment {deployment_id!r} is not registered for this platform", status=403
        )
    message_type = _text(claims, MESSAGE_TYPE, "message_type")
    if message_type not in MESSAGE_TYPES:
        raise LtiRefused("message_type", f"the message type {message_type!r} is not one this tool handles")
    version = _text(claims, VERSION, "version")
    if version != LTI_VERSION:
        raise LtiRefused("version", f"the LTI version {version!r} is not {LTI_VERSION}")
    target = _text(claims, TARGET_LINK_URI, "target_link_uri", required=message_type == RESOURCE_LINK_REQUEST)
    if target is not None and origin(target) != expected.tool_origin:
        raise LtiRefused("target_link_uri", f"the target {target!r} is not on this tool ({expected.tool_origin})")
    sub = _text(claims, "sub", "sub")
    assert sub is not None and message_type is not None
    return _launch(claims, expected, iss, deployment_id, message_type, sub, nonce, target or "")


def _launch(
    claims: Mapping[str, Any],
    expected: Expected,
    iss: str,
    deployment_id: str,
    message_type: str,
    sub: str,
    nonce: str,
    target: str,
) -> Launch:
    context = _object(claims, CONTEXT)
    link = _object(claims, RESOURCE_LINK)
    ags = _object(claims, AGS_ENDPOINT)
    nrps = _object(claims, NRPS)
    custom = {k: v for k, v in _object(claims, CUSTOM).items() if isinstance(k, str) and isinstance(v, str)}
    deep_link = None
    if message_type == DEEP_LINKING_REQUEST:
        settings = _object(claims, DL_SETTINGS)
        return_url = _opt_str(settings, "deep_link_return_url")
        if return_url is None:
            raise LtiRefused("deep_linking_settings", "the deep linking request has no deep_link_return_url")
        deep_link = DeepLinkSettings(
            return_url=return_url,
            data=_opt_str(settings, "data"),
            accept_types=_strings(settings.get("accept_types")),
            accept_multiple=settings.get("accept_multiple") is True,
        )
    elif _opt_str(link, "id") is None:
        raise LtiRefused("resource_link", "the resource link launch has no resource_link id")
    email = claims.get("email")
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if isinstance(claims.get(k), str)
    )
    return Launch(
        issuer=iss,
        client_id=expected.client_id,
        deployment_id=deployment_id,
        message_type=message_type,
        sub=sub,
        nonce=nonce,
        name=name if isinstance(name, str) else "",
        email=email if isinstance(email, str) and email else None,
        roles=_strings(claims.get(ROLES)),
        target_link_uri=target,
        context_id=_opt_str(context, "id"),
        context_title=_opt_str(context, "title") or "",
        context_label=_opt_str(context, "label") or "",
        resource_link_id=_opt_str(link, "id"),
        resource_link_title=_opt_str(link, "title") or "",
        custom=custom,
        ags_lineitems=_opt_str(ags, "lineitems"),
        ags_lineitem=_opt_str(ags, "lineitem"),
        ags_scopes=_strings(ags.get("scope")),
        nrps_memberships_url=_opt_str(nrps, "context_memberships_url"),
        deep_link=deep_link,
    )


def deep_linking_response(
    *,
    client_id: str,
    issuer: str,
    deployment_id: str,
    nonce: str,
    now: int,
    items: list[dict[str, Any]],
    data: str | None,
) -> dict[str, Any]:
    """The claims of an LtiDeepLinkingResponse (signed by grader.lti.keys): from us (iss = our client id)
    to the platform (aud = its issuer)."""
    claims: dict[str, Any] = {
        "iss": client_id,
        "aud": issuer,
        "iat": now,
        "exp": now + 600,
        "nonce": nonce,
        MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        VERSION: LTI_VERSION,
        DEPLOYMENT_ID: deployment_id,
        DL_CONTENT_ITEMS: items,
    }
    if data is not None:
        claims[DL_DATA] = data
    return claims


def resource_link_item(*, url: str, title: str, assignment: str, score_maximum: float) -> dict[str, Any]:
    """A Deep Linking `ltiResourceLink` content item placing one assignment, with its line item."""
    return {
        "type": "ltiResourceLink",
        "title": title,
        "url": url,
        "lineItem": {"scoreMaximum": score_maximum, "label": title, "resourceId": assignment},
        "custom": {"assignment": assignment},
    }
