"""Client-credentials tokens: the signed assertion the platform checks, one token request per
registration and scope set until shortly before expiry, and each way the token endpoint can fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from grader.lti.keys import SigningKey
from grader.lti.token import (
    AGS_LINEITEM,
    AGS_SCORE,
    ASSERTION_TYPE,
    NRPS_MEMBERSHIP_READONLY,
    MemoryTokenCache,
    TokenSource,
    TokenUnavailable,
    ToolClient,
)

TOKEN_URL = "https://lms.example.edu/login/oauth2/token"
KEY = SigningKey(kid="tool-key-1", private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
CLIENT = ToolClient(registration_id="reg-1", client_id="10000000001", token_url=TOKEN_URL)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class TokenEndpoint:
    """Checks every assertion as a platform would and counts the requests."""

    def __init__(self, expires_in: float = 3600, status: int = 200, body: object | None = None) -> None:
        self.expires_in, self.status, self.body = expires_in, status, body
        self.requests: list[dict[str, list[str]]] = []
        self.jtis: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == TOKEN_URL and request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.content.decode())
        self.requests.append(form)
        assert form["grant_type"] == ["client_credentials"]
        assert form["client_assertion_type"] == [ASSERTION_TYPE]
        assertion = form["client_assertion"][0]
        assert jwt.get_unverified_header(assertion)["kid"] == KEY.kid
        # The tests move the clock forward: the signature, audience and claims are checked, not the wall clock.
        claims = jwt.decode(
            assertion,
            KEY.private_key.public_key(),
            algorithms=["RS256"],
            audience=TOKEN_URL,
            options={"verify_iat": False, "verify_exp": False},
        )
        assert claims["iss"] == claims["sub"] == CLIENT.client_id
        assert claims["exp"] > claims["iat"] and claims["jti"] not in self.jtis
        self.jtis.add(claims["jti"])
        if self.status != 200 or self.body is not None:
            return httpx.Response(self.status, content=json.dumps(self.body or {"error": "invalid_client"}))
        n = len(self.requests)
        return httpx.Response(
            200,
            json={"access_token": f"t{n}", "token_type": "Bearer", "expires_in": self.expires_in, "scope": form["scope"][0]},
        )


def source(endpoint: TokenEndpoint, clock: Clock, client: ToolClient = CLIENT) -> TokenSource:
    return TokenSource(httpx.Client(transport=httpx.MockTransport(endpoint)), client, lambda: KEY, MemoryTokenCache(), clock)


def test_one_token_request_per_scope_set_until_shortly_before_expiry() -> None:
    endpoint, clock = TokenEndpoint(expires_in=3600), Clock()
    tokens = source(endpoint, clock)
    first = tokens.token([AGS_SCORE, AGS_LINEITEM])
    assert tokens.token([AGS_LINEITEM, AGS_SCORE, AGS_SCORE]) == first  # the same set, in any order
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0]["scope"] == [f"{AGS_LINEITEM} {AGS_SCORE}"]
    other = tokens.token([NRPS_MEMBERSHIP_READONLY])
    assert other != first and len(endpoint.requests) == 2
    clock.now += timedelta(seconds=3600 - 90)
    assert tokens.token([AGS_SCORE, AGS_LINEITEM]) == first  # still well inside its life
    clock.now += timedelta(seconds=45)  # 45 s before expiry: inside the refresh margin
    renewed = tokens.token([AGS_SCORE, AGS_LINEITEM])
    assert renewed not in (first, other) and len(endpoint.requests) == 3


def test_a_short_lived_token_is_kept_for_half_its_life_and_forget_drops_it() -> None:
    endpoint, clock = TokenEndpoint(expires_in=60), Clock()
    tokens = source(endpoint, clock)
    first = tokens.token([AGS_SCORE])
    clock.now += timedelta(seconds=20)
    assert tokens.token([AGS_SCORE]) == first
    clock.now += timedelta(seconds=15)
    assert tokens.token([AGS_SCORE]) != first
    tokens.forget([AGS_SCORE])
    tokens.token([AGS_SCORE])
    assert len(endpoint.requests) == 3


def test_the_cache_is_per_registration() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    cache = MemoryTokenCache()
    http = httpx.Client(transport=httpx.MockTransport(endpoint))
    one = TokenSource(http, CLIENT, lambda: KEY, cache, clock)
    two = TokenSource(http, ToolClient("reg-2", CLIENT.client_id, TOKEN_URL), lambda: KEY, cache, clock)
    assert one.token([AGS_SCORE]) != two.token([AGS_SCORE])
    assert len(endpoint.requests) == 2


def test_the_assertion_audience_can_differ_from_the_token_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        seen.append(jwt.decode(assertion, KEY.private_key.public_key(), algorithms=["RS256"], audience="https://lms.example.edu")["aud"])
        return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 600})

    client = ToolClient("reg-1", "c", TOKEN_URL, audience="https://lms.example.edu")
    tokens = TokenSource(httpx.Client(transport=httpx.MockTransport(handler)), client, lambda: KEY, MemoryTokenCache(), Clock())
    assert tokens.token([AGS_SCORE]) == "t" and seen == ["https://lms.example.edu"]


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (503, None, True),
        (429, None, True),
        (400, {"error": "invalid_scope"}, False),
        (401, {"error": "invalid_client"}, False),
        (200, {"token_type": "Bearer"}, False),  # no access_token
        (200, {"access_token": "x", "token_type": "mac"}, False),
    ],
)
def test_token_endpoint_failures_are_named_and_sorted(status: int, body: object, transient: bool) -> None:
    tokens = source(TokenEndpoint(status=status, body=body), Clock())
    with pytest.raises(TokenUnavailable) as caught:
        tokens.token([AGS_SCORE])
    assert caught.value.transient is transient and caught.value.status_code == status
    assert TOKEN_URL in str(caught.value)


def test_an_unreachable_token_endpoint_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    tokens = TokenSource(httpx.Client(transport=httpx.MockTransport(refuse)), CLIENT, lambda: KEY, MemoryTokenCache(), Clock())
    with pytest.raises(TokenUnavailable) as caught:
        tokens.token([AGS_SCORE])
    assert caught.value.transient and caught.value.status_code is None and "ConnectError" in str(caught.value)
