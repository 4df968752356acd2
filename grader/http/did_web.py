"""did:web documents of other issuers, fetched over HTTPS for the verifier, only where the operator
allows it (`GRADER_RESOLVE_DID_WEB=true`; off by default: a public verifier that fetches URLs named by
whoever pastes a credential is a way to make the service call out).

Guards: https only (what did:web specifies), the host must resolve to public addresses only (no
loopback, private, link-local, multicast or unspecified address, IPv6 and mapped forms included), no
redirects, a short timeout and a size cap. What remains is a DNS answer that changes between the check
and the connection (rebinding); the outbound guard of the service as a whole is its own work item.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from credentials.did import did_web_url

MAX_DOCUMENT_BYTES = 64 * 1024
TIMEOUT_S = 5.0
Resolve = Callable[[str], list[str]]


def _addresses(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)})


def public_host(host: str, resolve: Resolve = _addresses) -> bool:
    """Whether every address `host` resolves to is a public (global) one; False when it does not resolve."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    try:
        found = [literal] if literal is not None else [ipaddress.ip_address(a) for a in resolve(host)]
    except (OSError, ValueError):
        return False
    unmapped = [a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a for a in found]
    return bool(unmapped) and all(a.is_global and not a.is_multicast for a in unmapped)


def fetch_did_web(
    did: str, transport: httpx.BaseTransport | None = None, resolve: Resolve = _addresses
) -> tuple[dict[str, Any] | None, str]:
    """The DID document of `did` and "" , or None and why it could not be had (never raises)."""
    try:
        url = did_web_url(did)
    except ValueError as exc:
        return None, str(exc)
    host = urlsplit(url).hostname or ""
    if not public_host(host, resolve):
        return None, f"{host} is not a public address: not fetched"
    try:
        with (
            httpx.Client(transport=transport, timeout=TIMEOUT_S, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/did+json, application/json"}) as answer,
        ):
            if answer.status_code != 200:
                return None, f"{url} answered HTTP {answer.status_code}"
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    return None, f"{url} sent more than {MAX_DOCUMENT_BYTES // 1024} KiB"
    except httpx.HTTPError as exc:
        return None, f"{url}: {type(exc).__name__}"
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, f"{url} did not send JSON"
    if not isinstance(document, dict) or document.get("id") != did:
        return None, f"{url} sent a document that is not {did}'s"
    return document, ""
