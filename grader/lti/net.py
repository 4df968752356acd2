"""The one door through which this package talks to platforms (JWKS, Dynamic Registration): URLs that
tenants choose. Answers are bounded in size and time, redirects are not followed.

The client is grader.outbound's guarded one: loopback, private and link-local addresses are refused at
connect time unless the operator's allowlist (GRADER_OUTBOUND_ALLOW) permits them.
"""

from __future__ import annotations

from typing import Any

import httpx

from grader.config import Settings
from grader.core.netpolicy import DestinationRefused
from grader.lti.errors import PlatformUnavailable
from grader.outbound.client import client

MAX_BYTES = 256 * 1024
# Unit tests put an httpx.MockTransport here; None is the guarded network.
transport: httpx.BaseTransport | None = None


def _client(settings: Settings) -> httpx.Client:
    if transport is not None:
        return httpx.Client(transport=transport, follow_redirects=False)
    return client(settings, headers={"User-Agent": "grader-lti/1"})


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise PlatformUnavailable(what, f"{response.request.url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise PlatformUnavailable(what, f"{response.request.url} answered more than {MAX_BYTES} bytes")
    try:
        return response.json()
    except ValueError as exc:
        raise PlatformUnavailable(what, f"{response.request.url} did not answer JSON") from exc


def get_json(settings: Settings, url: str, what: str, headers: dict[str, str] | None = None) -> Any:
    """GET `url` as JSON; raises PlatformUnavailable(what) on a refused destination, a network error, a
    non-2xx or non-JSON answer."""
    try:
        with _client(settings) as http:
            return _json(http.get(url, headers=headers or {}), what)
    except DestinationRefused as exc:
        raise PlatformUnavailable(what, f"{url} is not reachable from this service ({exc})") from exc
    except httpx.HTTPError as exc:
        raise PlatformUnavailable(what, f"{url} could not be reached ({type(exc).__name__})") from exc


def post_json(settings: Settings, url: str, body: Any, what: str, headers: dict[str, str] | None = None) -> Any:
    """POST `body` as JSON to `url`; raises PlatformUnavailable(what) like get_json."""
    try:
        with _client(settings) as http:
            return _json(http.post(url, json=body, headers=headers or {}), what)
    except DestinationRefused as exc:
        raise PlatformUnavailable(what, f"{url} is not reachable from this service ({exc})") from exc
    except httpx.HTTPError as exc:
        raise PlatformUnavailable(what, f"{url} could not be reached ({type(exc).__name__})") from exc
