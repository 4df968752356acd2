"""A worker SIGKILLed in the run stage: its sandbox and scratch folders are removed by the next pool's
janitor, the submission is graded again once its lease runs out (not after a long sweep), and it ends
with exactly one grade and at most one credential."""

from __future__ import annotations

import time

import pytest

from grader.sandbox.containers import leftover_containers
from tests.faults.conftest import FaultStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.fault]

LEASE_TTL_S = 10  # GRADER_LEASE_TTL_S of the suite's stack
RECONCILE_S = 1


def _scratch(stack: FaultStack) -> list[str]:
    work = stack.home / "work"
    return sorted(p.name for p in work.iterdir()) if work.is_dir() else []


def test_a_worker_killed_mid_run_is_cleaned_up_and_its_submission_graded_once(fault_stack: FaultStack) -> None:
    first = fault_stack.start_pool()
    submission_id = fault_stack.submit("reference")
    fault_stack.wait_state(submission_id, ("running",), timeout=120)
    wait_until(lambda: leftover_containers() != [], 60, "the run's sandbox containers exist")
    first.kill()
    killed_at = time.monotonic()
    # What the killed worker left: its containers and its scratch folders (grade-*, suites-*).
    assert leftover_containers() != []
    assert any(name.startswith(("grade-", "suites-")) for name in _scratch(fault_stack))
    assert fault_stack.submission(submission_id)["state"] not in ("graded", "rejected", "error")

    fault_stack.start_pool()
    # The next pool's janitor removes the dead worker's leftovers before it grades anything.
    wait_until(lambda: leftover_containers() == [] or _started_again(fault_stack, submission_id), 60, "leftovers removed")
    done = fault_stack.wait_state(submission_id, ("graded", "rejected", "error"), timeout=180)
    graded_after = time.monotonic() - killed_at
    assert done["state"] == "graded" and done["passed"] is True, done
    grades, credentials = fault_stack.counts(submission_id)
    assert grades == 1 and credentials <= 1  # none when held for review (the same code as a learner's before)
    runs = [e for e in fault_stack.history(submission_id) if e["stage"] == "run" and e["status"] == "start"]
    assert len(runs) == 2  # the killed try and the one that finished
    assert leftover_containers() == []
    wait_until(lambda: _scratch(fault_stack) == [], 30, f"scratch folders removed: {_scratch(fault_stack)}")
    # Bounded by the lease, not a sweep of many minutes: the lease, a reconcile round and the grading run.
    assert graded_after < LEASE_TTL_S + RECONCILE_S + 180


def _started_again(stack: FaultStack, submission_id: str) -> bool:
    starts = sum(e["stage"] == "run" and e["status"] == "start" for e in stack.history(submission_id))
    return bool(starts > 1)
