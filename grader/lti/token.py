"""OAuth 2 client-credentials tokens for the LTI Advantage services (1EdTech Security Framework 4.1).

The tool proves who it is with a JWT assertion signed by its own key (grader.lti.keys), POSTed to the
registration's token URL with the scopes it needs; the access token that comes back is cached per
registration and scope set until shortly before it expires, so a burst of passbacks costs one
request to the platform.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
import jwt
from pydantic import BaseModel, ValidationError
from redis import Redis
from redis.exceptions import RedisError

from grader.core.errors import SystemFault
from grader.core.netpolicy import DestinationRefused
from grader.lti.keys import SigningKey
from grader.store.models import LtiRegistration

AGS_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
AGS_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
NRPS_MEMBERSHIP_READONLY = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = timedelta(minutes=5)
# A cached token is dropped this long before the platform says it expires, so a request never leaves
# with a token that lapses on the way (for short-lived tokens: half their life).
REFRESH_MARGIN = timedelta(seconds=60)

Clock = Callable[[], datetime]
Signer = Callable[[], SigningKey]  # grader.lti.keys.signing_key with its session and settings bound


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenUnavailable(SystemFault):
    """No access token: the platform's token endpoint is unreachable or answered an error. `transient`
    says whether trying later may help (network, 5xx, 429) or the registration must be fixed (4xx)."""

    code = "lti-token-unavailable"

    def __init__(self, message: str, *, status_code: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.transient = transient


@dataclass(frozen=True)
class ToolClient:
    """What the token request needs of a registration."""

    registration_id: str
    client_id: str
    token_url: str
    audience: str | None = None  # the assertion's `aud` when the platform wants other than token_url

    @property
    def assertion_audience(self) -> str:
        return self.audience or self.token_url

    @classmethod
    def of(cls, registration: LtiRegistration) -> ToolClient:
        return cls(
            registration_id=registration.id,
            client_id=registration.client_id,
            token_url=registration.token_url,
            audience=registration.token_audience,
        )


class AccessToken(BaseModel):
    value: str
    scopes: tuple[str, ...]
    expires_at: datetime
    refresh_at: datetime  # when the cache stops handing it out


class TokenCache(Protocol):
    def get(self, key: str, now: datetime) -> AccessToken | None: ...

    def put(self, key: str, token: AccessToken, now: datetime) -> None: ...

    def drop(self, key: str) -> None: ...


class MemoryTokenCache:
    """Per process: for the API process and tests. A worker's work horse lives one job, so jobs use
    RedisTokenCache to share tokens between jobs and machines."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime) -> AccessToken | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and now >= token.refresh_at:
                del self._tokens[key]
                return None
            return token

    def put(self, key: str, token: AccessToken, now: datetime) -> None:
        with self._lock:
            self._tokens[key] = token

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


class RedisTokenCache:
    """In Redis with an expiry at the refresh instant; a Redis fault only costs a new token."""

    PREFIX = "grader:lti:token:"

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def _name(self, key: str) -> str:
        return self.PREFIX + hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str, now: datetime) -> AccessToken | None:
        try:
            raw = self._redis.get(self._name(key))
        except RedisError:
            return None
        if not isinstance(raw, bytes | str):
            return None
        try:
            token = AccessToken.model_validate_json(raw)
        except ValidationError:
            return None
        return None if now >= token.refresh_at else token

    def put(self, key: str, token: AccessToken, now: datetime) -> None:
        seconds = int((token.refresh_at - now).total_seconds())
        if seconds <= 0:
            return
        with contextlib.suppress(RedisError):
            self._redis.set(self._name(key), token.model_dump_json(), ex=seconds)

    def drop(self, key: str) -> None:
        with contextlib.suppress(RedisError):
            self._redis.delete(self._name(key))


def cache_key(client: ToolClient, scopes: Iterable[str]) -> str:
    return json.dumps([client.registration_id, client.client_id, client.token_url, sorted(set(scopes))])


def client_assertion(client: ToolClient, key: SigningKey, now: datetime) -> str:
    """The signed JWT the tool authenticates with: iss = sub = our client id, aud = the token endpoint
    (or the registration's audience), a short life and a fresh `jti`."""
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": client.assertion_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ASSERTION_LIFETIME).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})


class _TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: float = 3600
    scope: str | None = None


def _refresh_at(now: datetime, expires_in: float) -> datetime:
    life = timedelta(seconds=max(0.0, expires_in))
    return now + (life - REFRESH_MARGIN if life > 2 * REFRESH_MARGIN else life / 2)


def request_token(
    http: httpx.Client, client: ToolClient, assertion: str, scopes: list[str], now: datetime
) -> AccessToken:
    """POST the assertion to the token endpoint. Raises TokenUnavailable (transient for network faults,
    5xx and 429; not for other refusals or an answer that is no token)."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    }
    try:
        response = http.post(client.token_url, data=form, headers={"Accept": "application/json"})
    except DestinationRefused as exc:  # the outbound guard: a private or loopback address, not allowlisted
        raise TokenUnavailable(f"token endpoint {client.token_url}: {exc}"[:500], transient=False) from exc
    except httpx.HTTPError as exc:
        raise TokenUnavailable(f"token endpoint {client.token_url}: {type(exc).__name__}: {exc}"[:500]) from exc
    if response.status_code != 200:
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        raise TokenUnavailable(
            f"token endpoint {client.token_url} answered HTTP {response.status_code}: {response.text[:300]}",
            status_code=response.status_code,
            transient=transient,
        )
    try:
        body = _TokenResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise TokenUnavailable(
            f"token endpoint {client.token_url} answered 200 without a token (access_token, expires_in)",
            status_code=200,
            transient=False,
        ) from exc
    if body.token_type.lower() != "bearer":
        raise TokenUnavailable(
            f"token endpoint {client.token_url} gave a {body.token_type!r} token; only Bearer is used",
            status_code=200,
            transient=False,
        )
    granted = tuple(body.scope.split()) if body.scope else tuple(scopes)
    return AccessToken(
        value=body.access_token,
        scopes=granted,
        expires_at=now + timedelta(seconds=body.expires_in),
        refresh_at=_refresh_at(now, body.expires_in),
    )


class TokenSource:
    """Access tokens for one registration's services, from the cache or a new token request."""

    def __init__(
        self, http: httpx.Client, client: ToolClient, signer: Signer, cache: TokenCache, clock: Clock = _utcnow
    ) -> None:
        self.http = http
        self.client = client
        self._signer = signer
        self._cache = cache
        self._clock = clock

    def token(self, scopes: Iterable[str]) -> str:
        """A bearer token for `scopes`. Raises TokenUnavailable."""
        wanted = sorted(set(scopes))
        key = cache_key(self.client, wanted)
        now = self._clock()
        cached = self._cache.get(key, now)
        if cached is not None:
            return cached.value
        assertion = client_assertion(self.client, self._signer(), now)
        fresh = request_token(self.http, self.client, assertion, wanted, now)
        self._cache.put(key, fresh, now)
        return fresh.value

    def forget(self, scopes: Iterable[str]) -> None:
        """Drop the cached token for `scopes` (the platform said 401: revoked or expired early)."""
        self._cache.drop(cache_key(self.client, sorted(set(scopes))))
