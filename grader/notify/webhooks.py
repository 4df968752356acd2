"""Webhook deliveries: an event turned into one delivery per subscribed endpoint, each POSTed signed
(grader.core.webhook_signing) and its tries recorded in the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import outbound
from grader.config import Settings
from grader.core.webhook_signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    encode_body,
    event_payload,
    signature_header,
)
from grader.store.models import WebhookDelivery, WebhookEndpoint, utcnow


class DeliveryOutcome(BaseModel):
    delivered: bool
    status_code: int | None
    error: str | None
    # The outbound guard refused the destination (it resolves to loopback, a private range...): final,
    # never retried; the delivery log says which rule.
    refused: bool = False


def send(
    settings: Settings,
    url: str,
    secret: str,
    payload: Mapping[str, Any],
    delivery_id: str,
    now: int,
) -> DeliveryOutcome:
    """POST one signed delivery through the outbound guard (checked again now, at connect time, against
    DNS rebinding) with settings.outbound_timeout_s. Any 2xx is success; redirects are not followed (the
    URL is the contract). Never raises: a refusal is an outcome with `refused` set."""
    body = encode_body(payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(secret, now, body),
        EVENT_HEADER: str(payload.get("type", "")),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "grader-webhooks/1",
    }
    try:
        with outbound.client(settings) as client:
            response = client.post(url, content=body, headers=headers)
    except outbound.DestinationRefused as exc:
        return DeliveryOutcome(delivered=False, status_code=None, error=str(exc)[:500], refused=True)
    except httpx.HTTPError as exc:
        return DeliveryOutcome(delivered=False, status_code=None, error=f"{type(exc).__name__}: {exc}"[:500])
    ok = 200 <= response.status_code < 300
    return DeliveryOutcome(
        delivered=ok, status_code=response.status_code, error=None if ok else f"HTTP {response.status_code}"
    )


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
