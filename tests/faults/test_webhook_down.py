"""A webhook receiver down for a long time (longer than a whole series of retries): the deliveries
stay pending, are tried again with a growing wait, and arrive once it is back, each delivery id
answered with success exactly once (the receiver dedupes by it: `Grader-Delivery`)."""

from __future__ import annotations

import time

import pytest

from grader.demo.stack import free_port
from tests.faults.conftest import FaultStack, accepted_per_delivery, deliveries, receiver_on, wait_until, webhook

pytestmark = [pytest.mark.integration, pytest.mark.fault]

SERIES = 2 + 1  # GRADER_WEBHOOK_RETRIES of the suite's stack, plus the first try


def test_deliveries_to_a_receiver_down_for_long_arrive_once_it_is_back(fault_stack: FaultStack) -> None:
    port = free_port()  # nothing listens there yet: connection refused
    with webhook(fault_stack, f"http://127.0.0.1:{port}/hooks") as endpoint:
        fault_stack.start_pool()
        submission_id = fault_stack.submit("reference")
        fault_stack.wait_state(submission_id, ("graded",), timeout=180)
        # Down through more than one whole series of tries: the deliveries are still pending, not failed.
        expected = 1 + bool(fault_stack.submission(submission_id)["credential_id"])
        wait_until(
            lambda: all(d["attempts"] > SERIES for d in deliveries(fault_stack, endpoint))
            and len(deliveries(fault_stack, endpoint)) == expected,
            120,
            "more tries than one series",
        )
        assert {d["status"] for d in deliveries(fault_stack, endpoint)} == {"pending"}
        time.sleep(2)
        with receiver_on(port) as receiver:
            wait_until(
                lambda: {d["status"] for d in deliveries(fault_stack, endpoint)} == {"delivered"},
                120,
                f"delivered: {deliveries(fault_stack, endpoint)}",
            )
            time.sleep(3)  # any duplicate try would arrive in this time
            logged = deliveries(fault_stack, endpoint)
            assert accepted_per_delivery(receiver) == {d["id"]: 1 for d in logged}
            assert sorted(d["event_type"] for d in logged) == ["credential.issued", "submission.graded"][2 - expected :]
            bodies = {hit["headers"]["grader-delivery"]: hit["body"] for hit in receiver.received}
            assert all(submission_id.encode() in body for body in bodies.values())
