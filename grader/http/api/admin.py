"""Tenant administration through the API: webhook endpoints and their delivery log, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from grader import outbound
from grader.core.webhook_signing import new_secret
from grader.http.deps import AdminCaller, ServicesDep, SessionDep
from grader.http.problems import FieldError, ProblemError, not_found
from grader.http.schemas import ApiKeyIn, ApiKeyOut, DeliveryOut, WebhookIn, WebhookOut
from grader.jobs.queue import enqueue_delivery
from grader.store import deliveries, tenancy
from grader.store.models import ApiKey, WebhookDelivery, WebhookEndpoint, utcnow

router = APIRouter(prefix="/api/v1", tags=["admin"])


def _webhook_out(endpoint: WebhookEndpoint, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        active=endpoint.active,
        created_at=endpoint.created_at,
        secret=secret,
    )


def _delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(delivery, from_attributes=True)


def _endpoint(session: Session, tenant_id: str, endpoint_id: str) -> WebhookEndpoint:
    found = deliveries.endpoint_of(session, tenant_id, endpoint_id)
    if found is None:
        raise not_found("webhook endpoint", endpoint_id)
    return found


@router.post("/webhooks", status_code=201, response_model=WebhookOut, tags=["webhooks"])
def create_webhook(body: WebhookIn, session: SessionDep, services: ServicesDep, who: AdminCaller) -> WebhookOut:
    """Register an endpoint. The signing secret is in this answer only: keep it. A URL the outbound guard
    refuses (loopback, private, link-local... see docs/outbound.md) is a 422 naming the rule."""
    try:
        outbound.check_destination(services.settings, str(body.url))
    except outbound.DestinationRefused as exc:
        raise ProblemError(
            422,
            exc.code,
            f"webhook URL {exc}",
            errors=[FieldError(location="body.url", message=str(exc))],
        ) from exc
    secret = body.secret or new_secret()
    endpoint = WebhookEndpoint(tenant_id=who.tenant_id, url=str(body.url), secret=secret, events=list(body.events))
    session.add(endpoint)
    session.commit()
    return _webhook_out(endpoint, secret)


@router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
def list_webhooks(session: SessionDep, who: AdminCaller) -> list[WebhookOut]:
    return [_webhook_out(e) for e in deliveries.endpoints_of(session, who.tenant_id)]


@router.delete("/webhooks/{endpoint_id}", status_code=204, tags=["webhooks"])
def delete_webhook(endpoint_id: str, session: SessionDep, who: AdminCaller) -> Response:
    """Deactivate an endpoint; its delivery log stays."""
    _endpoint(session, who.tenant_id, endpoint_id).active = False
    session.commit()
    return Response(status_code=204)


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=list[DeliveryOut], tags=["webhooks"])
def list_deliveries(
    endpoint_id: str,
    session: SessionDep,
    who: AdminCaller,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    endpoint = _endpoint(session, who.tenant_id, endpoint_id)
    return [_delivery_out(d) for d in deliveries.deliveries_of(session, who.tenant_id, endpoint.id, limit)]


def _delivery(session: Session, tenant_id: str, delivery_id: str) -> WebhookDelivery:
    found = deliveries.delivery_of(session, tenant_id, delivery_id)
    if found is None:
        raise not_found("delivery", delivery_id)
    return found


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryOut, tags=["webhooks"])
def get_delivery(delivery_id: str, session: SessionDep, who: AdminCaller) -> DeliveryOut:
    return _delivery_out(_delivery(session, who.tenant_id, delivery_id))


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut, tags=["webhooks"]
)
def redeliver(delivery_id: str, session: SessionDep, services: ServicesDep, who: AdminCaller) -> DeliveryOut:
    """Send a delivery again (after fixing the receiver), with a fresh series of retries."""
    delivery = _delivery(session, who.tenant_id, delivery_id)
    delivery.status = "pending"
    rounds = delivery.attempts
    session.commit()
    enqueue_delivery(services.queue, services.settings, delivery.id, round_=rounds)
    return _delivery_out(delivery)


def _key_out(key: ApiKey, raw: str | None = None) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        scopes=list(key.scopes),
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        key=raw,
    )


@router.post("/api-keys", status_code=201, response_model=ApiKeyOut, tags=["admin"])
def create_key(body: ApiKeyIn, session: SessionDep, who: AdminCaller) -> ApiKeyOut:
    """A new key for this tenant. The key itself is in this answer only; the store keeps its hash."""
    key, raw = tenancy.create_api_key(session, who.tenant_id, list(body.scopes), body.name)
    session.commit()
    return _key_out(key, raw)


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["admin"])
def list_keys(session: SessionDep, who: AdminCaller) -> list[ApiKeyOut]:
    return [_key_out(k) for k in tenancy.api_keys_of(session, who.tenant_id)]


@router.delete("/api-keys/{key_id}", status_code=204, tags=["admin"])
def revoke_key(key_id: str, session: SessionDep, who: AdminCaller) -> Response:
    key = tenancy.api_key_of(session, who.tenant_id, key_id)
    if key is None:
        raise not_found("API key", key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.commit()
    return Response(status_code=204)
