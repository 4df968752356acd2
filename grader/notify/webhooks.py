"""Webhooks: signed event deliveries to each tenant's endpoints.

The signature follows the common scheme (Stripe, Standard Webhooks): header
`Grader-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. A receiver recomputes the
HMAC over the raw body with the endpoint's secret and refuses stale timestamps, so a captured
delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.store.models import WebhookDelivery, WebhookEndpoint, utcnow

SIGNATURE_HEADER = "Grader-Signature"
EVENT_HEADER = "Grader-Event"
DELIVERY_HEADER = "Grader-Delivery"
EVENT_TYPES = ("submission.graded", "credential.issued", "credential.revoked")
DEFAULT_TOLERANCE_S = 300


class SignatureInvalid(ValueError):
    """A delivery's signature header is missing, malformed, stale or wrong."""


class DeliveryOutcome(BaseModel):
    delivered: bool
    status_code: int | None
    error: str | None


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


def send(
    url: str, secret: str, payload: Mapping[str, Any], delivery_id: str, now: int, timeout_s: float = 10.0
) -> DeliveryOutcome:
    """POST one signed delivery. Any 2xx is success; redirects are not followed (the URL is the contract)."""
    body = encode_body(payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, now, body),
        EVENT_HEADER: str(payload.get("type", "")),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "grader-webhooks/1",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False)
    except httpx.HTTPError as exc:
        return DeliveryOutcome(delivered=False, status_code=None, error=f"{type(exc).__name__}: {exc}"[:500])
    ok = 200 <= response.status_code < 300
    return DeliveryOutcome(
        delivered=ok, status_code=response.status_code, error=None if ok else f"HTTP {response.status_code}"
    )


def backoff_intervals(retries: int, base_s: int, cap_s: int = 3600) -> list[int]:
    """Exponential backoff: base, 2*base, 4*base ... capped; one interval per retry."""
    return [min(cap_s, base_s * 2**i) for i in range(retries)]


# Store side: turning an event into deliveries, and recording each try. ---------------------------


def emit(
    session: Session, tenant_id: str, event_type: str, event_id: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per active endpoint subscribed to `event_type`; emitting the same event id again
    adds nothing (the (endpoint, event) pair is unique), so a re-run stage never notifies twice."""
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.active.is_(True))
    ).all()
    created: list[WebhookDelivery] = []
    for endpoint in endpoints:
        if event_type not in endpoint.events:
            continue
        exists = session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id
            )
        )
        if exists is not None:
            if exists.status == "pending":
                created.append(exists)  # queued before a crash, maybe never sent: send again
            continue
        payload = event_payload(event_id, event_type, utcnow().isoformat(), tenant_id, data)
        delivery = WebhookDelivery(
            tenant_id=tenant_id, endpoint_id=endpoint.id, event_id=event_id, event_type=event_type, payload=payload
        )
        session.add(delivery)
        session.flush()
        created.append(delivery)
    return created


def record_try(session: Session, delivery: WebhookDelivery, outcome: DeliveryOutcome, final: bool) -> None:
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status = "delivered"
        delivery.delivered_at = utcnow()
    elif final:
        delivery.status = "failed"
    session.flush()
