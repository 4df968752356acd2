"""Webhook endpoints and their delivery log. Every query names its tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.store.models import WebhookDelivery, WebhookEndpoint


def endpoint_of(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.id == endpoint_id)
    )


def endpoints_of(session: Session, tenant_id: str) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)))


def deliveries_of(session: Session, tenant_id: str, endpoint_id: str, limit: int) -> list[WebhookDelivery]:
    """The endpoint's newest deliveries first."""
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        )
    )


def delivery_of(session: Session, tenant_id: str, delivery_id: str) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.id == delivery_id)
    )
