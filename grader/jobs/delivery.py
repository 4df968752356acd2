"""The delivery job: one try of one webhook delivery, retried by the queue with backoff."""

from __future__ import annotations

import time

from grader.core.errors import SystemFault
from grader.jobs.context import context, is_last_try
from grader.notify import webhooks
from grader.store.db import session_scope
from grader.store.models import WebhookDelivery, WebhookEndpoint


class DeliveryFailed(SystemFault, RuntimeError):
    """A webhook try failed (the receiver is down or refused it); raised so rq schedules the next try."""

    code = "delivery-failed"


def deliver_webhook(delivery_id: str) -> str:
    """One try of one webhook delivery; raises on failure so rq retries with exponential backoff."""
    ctx = context()
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "missing"
        if delivery.status == "delivered":
            return "delivered"
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            return "endpoint-gone"
        url, secret, payload = endpoint.url, endpoint.secret, delivery.payload
    outcome = webhooks.send(ctx.settings, url, secret, payload, delivery_id, int(time.time()))
    final = is_last_try() or outcome.refused  # a destination the outbound guard refuses is not retried
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        webhooks.record_try(session, delivery, outcome, final)
    if outcome.refused:
        return "refused"
    if not outcome.delivered:
        raise DeliveryFailed(f"delivery {delivery_id} to {url}: {outcome.error}")
    return "delivered"
