"""Webhook signing: the scheme receivers check (Stripe, Standard Webhooks).

Header `Grader-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. A receiver recomputes
the HMAC over the raw body with the endpoint's secret and refuses stale timestamps, so a captured
delivery cannot be replayed later. Pure: the delivery itself is grader.notify.webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "Grader-Signature"
EVENT_HEADER = "Grader-Event"
DELIVERY_HEADER = "Grader-Delivery"
EVENT_TYPES = ("submission.graded", "credential.issued", "credential.revoked")
DEFAULT_TOLERANCE_S = 300


class SignatureInvalid(ValueError):
    """A delivery's signature header is missing, malformed, stale or wrong."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact, key order kept)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("expected a header like t=<seconds>,v1=<hex>")
    return timestamp, candidates


def verify_signature(
    secret: str, header: str, body: bytes, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> int:
    """Check a delivery as a receiver would; returns its timestamp or raises SignatureInvalid."""
    timestamp, candidates = _parse_header(header)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid(f"timestamp is {abs(now - timestamp)} s away from now (tolerance {tolerance_s} s)")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureInvalid("no v1 signature matches the body")
    return timestamp


def event_payload(event_id: str, event_type: str, created: str, tenant: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "created": created, "tenant": tenant, "data": dict(data)}


def backoff_intervals(retries: int, base_s: int, cap_s: int = 3600) -> list[int]:
    """Exponential backoff: base, 2*base, 4*base ... capped; one interval per retry."""
    return [min(cap_s, base_s * 2**i) for i in range(retries)]
