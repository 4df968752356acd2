"""did:web documents of other issuers, fetched over HTTPS for the verifier, only where the operator
allows it (`GRADER_RESOLVE_DID_WEB=true`; off by default: a public verifier that fetches URLs named by
whoever pastes a credential is a way to make the service call out).

Guards: https only (what did:web specifies), the outbound guard (grader.outbound: the host must resolve
to public addresses only, checked at connect time so a rebinding DNS answer cannot slip through;
settings.outbound_allow lifts it), no redirects, a short timeout and a size cap.
"""

from __future__ import annotations

import json
from typing import Any

import httpcore
import httpx

from credentials.did import did_web_url
from grader import outbound
from grader.config import Settings

MAX_DOCUMENT_BYTES = 64 * 1024
TIMEOUT_S = 5.0


def fetch_did_web(
    did: str,
    settings: Settings,
    *,
    resolver: outbound.Resolver | None = None,
    network: httpcore.NetworkBackend | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The DID document of `did` and "" , or None and why it could not be had (never raises).
    `resolver` and `network` are the outbound client's seams (DNS, sockets) for tests."""
    try:
        url = did_web_url(did)
    except ValueError as exc:
        return None, str(exc)
    try:
        with (
            outbound.client(settings, resolver=resolver, network=network, timeout=TIMEOUT_S) as client,
            client.stream("GET", url, headers={"Accept": "application/did+json, application/json"}) as answer,
        ):
            if answer.status_code != 200:
                return None, f"{url} answered HTTP {answer.status_code}"
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    return None, f"{url} sent more than {MAX_DOCUMENT_BYTES // 1024} KiB"
    except outbound.DestinationRefused as exc:
        return None, f"{url} not fetched: {exc}"
    except httpx.HTTPError as exc:
        return None, f"{url}: {type(exc).__name__}"
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, f"{url} did not send JSON"
    if not isinstance(document, dict) or document.get("id") != did:
        return None, f"{url} sent a document that is not {did}'s"
    return document, ""
