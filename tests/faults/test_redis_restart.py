"""Redis restarted empty while submissions are queued, one is running and webhook deliveries are
waiting for their next try: the store is the source of truth, so every accepted submission is graded
and every delivery arrives, once per delivery id, after the reconciler has put the lost jobs back."""

from __future__ import annotations

import pytest

from grader.demo.stack import free_port
from tests.faults.conftest import (
    FaultStack,
    accepted_per_delivery,
    deliveries,
    receiver_on,
    restart_redis_empty,
    wait_until,
    webhook,
)

pytestmark = [pytest.mark.integration, pytest.mark.fault]

EVENTS = ("submission.graded", "credential.issued")


def test_redis_restarted_empty_loses_no_submission_and_no_delivery(fault_stack: FaultStack) -> None:
    port = free_port()
    with receiver_on(port) as receiver, webhook(fault_stack, f"http://127.0.0.1:{port}/hooks") as endpoint:
        with receiver.lock:  # down for now: every delivery waits for its next try
            receiver.script = {(event, ""): [503] * 10_000 for event in EVENTS}
        fault_stack.start_pool()
        delivering = fault_stack.submit("reference")
        fault_stack.wait_state(delivering, ("graded",), timeout=180)
        wait_until(lambda: len(receiver.received) >= 2, 60, "the first tries of the graded submission's deliveries")
        running = fault_stack.submit("partial")
        fault_stack.wait_state(running, ("running",), timeout=120)
        queued = [fault_stack.submit("failing"), fault_stack.submit("reference")]
        assert all(fault_stack.submission(s)["state"] == "queued" for s in queued)

        restart_redis_empty(fault_stack.services)
        with receiver.lock:
            receiver.script = {}  # back up

        accepted = [delivering, running, *queued]
        for submission_id in accepted:
            done = fault_stack.wait_state(submission_id, ("graded", "rejected", "error"), timeout=240)
            assert done["state"] == "graded", done
            assert fault_stack.counts(submission_id)[0] == 1
        # A submission.graded each, and a credential.issued for each credential (a passing submission with
        # the same code as an earlier learner's waits for review instead).
        expected = len(accepted) + sum(bool(fault_stack.submission(s)["credential_id"]) for s in accepted)
        wait_until(
            lambda: sum(d["status"] == "delivered" for d in deliveries(fault_stack, endpoint)) == expected,
            120,
            f"every delivery delivered: {[(d['event_type'], d['status']) for d in deliveries(fault_stack, endpoint)]}",
        )
        logged = deliveries(fault_stack, endpoint)
        counts = accepted_per_delivery(receiver)
        assert sorted(counts) == sorted(d["id"] for d in logged)
        assert set(counts.values()) == {1}  # each delivery id answered with success exactly once
        graded_for = sorted(d["payload"]["data"]["submission_id"] for d in logged if d["event_type"] == "submission.graded")
        assert graded_for == sorted(accepted)
