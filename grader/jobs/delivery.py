"""The delivery job: one try of one webhook delivery, retried with backoff until the receiver takes it.

The store decides, Redis only carries the tries. A try holds its delivery's lease (grader.jobs.lease)
while it sends, so two jobs never send one delivery at once, and a delivery already delivered is never
sent again: the receiver sees each delivery id (`Grader-Delivery`, the idempotency key) answered with
success once. Between the tries of a series the lease stays with the series' job; once a series is
over and the receiver is still down, the delivery stays `pending`, held until its next try is due
(the wait doubles up to `webhook_max_backoff_s`), and the reconciler starts the next series then. Only
a delivery still failing `webhook_give_up_after_s` after it was made is marked `failed`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from rq import get_current_job

from grader.config import Settings
from grader.core.errors import SystemFault
from grader.jobs import lease
from grader.jobs.context import context, is_last_try
from grader.notify import webhooks
from grader.store.db import session_scope
from grader.store.models import WebhookDelivery, WebhookEndpoint, utcnow

# How long one try may hold its delivery: the send's own timeout and room to record the answer.
SEND_HOLD_S = 60.0
BACKOFF_OWNER = "waiting-for-next-try"


class DeliveryFailed(SystemFault, RuntimeError):
    """A webhook try failed (the receiver is down or refused it); raised so rq schedules the next try."""

    code = "delivery-failed"


def next_series_wait(settings: Settings, attempts: int) -> float:
    """How long a delivery waits after a whole series of tries failed: doubling, capped."""
    series_done = max(attempts // (settings.webhook_retries + 1), 1)
    doublings = min(settings.webhook_retries + series_done - 1, 40)
    return float(min(max(settings.webhook_retry_base_s, 1) * 2**doublings, settings.webhook_max_backoff_s))


def _gives_up(settings: Settings, created_at: datetime, now: datetime) -> bool:
    return now - created_at > timedelta(seconds=settings.webhook_give_up_after_s)


def deliver_webhook(delivery_id: str) -> str:
    """One try of one webhook delivery; raises on failure so rq retries with exponential backoff."""
    ctx = context()
    job = get_current_job()
    owner = job.id if job is not None else lease.new_owner()
    resource = lease.delivery_resource(delivery_id)
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "missing"
        if delivery.status != "pending":
            return delivery.status
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            return "endpoint-gone"
        if not lease.take(session, resource, owner, SEND_HOLD_S):
            return "held-elsewhere"  # another try is sending it, or its next try is not due yet
        url, secret, payload = endpoint.url, endpoint.secret, delivery.payload
    outcome = webhooks.send(ctx.settings, url, secret, payload, delivery_id, int(time.time()))
    last_of_series = is_last_try()
    with session_scope(ctx.factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        now = utcnow()
        # A destination the outbound guard refuses stays refused: final at once.
        give_up = outcome.refused or (last_of_series and _gives_up(ctx.settings, delivery.created_at, now))
        webhooks.record_try(session, delivery, outcome, give_up)
        if outcome.delivered or give_up:
            lease.release(session, resource)
        elif last_of_series:
            wait = next_series_wait(ctx.settings, delivery.attempts)
            lease.hold(session, resource, BACKOFF_OWNER, now + timedelta(seconds=wait))
        else:
            # The series' next try (same job id) takes the lease back; should Redis lose that try, the
            # hold runs out and the reconciler starts a new series.
            interval = job.get_retry_interval() if job is not None and job.retries_left else 0
            hold_s = interval + ctx.settings.stuck_after_s + SEND_HOLD_S
            lease.hold(session, resource, owner, now + timedelta(seconds=hold_s))
    if outcome.delivered:
        return "delivered"
    if last_of_series or give_up:
        return "failed" if give_up else "waiting"
    raise DeliveryFailed(f"delivery {delivery_id} to {url}: {outcome.error}")
