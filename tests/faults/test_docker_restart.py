"""The Docker engine restarted in the middle of a run: the engine stops the sandbox containers, which
the worker tells from an end of the learner's making; the submission is retried as a fault of the
system and graded once the engine is back, never failed or refused as the learner's."""

from __future__ import annotations

import os

import pytest

from grader.config import Settings
from grader.core.spec import load_assignment
from grader.sandbox.containers import OWNER_LABEL
from grader.sandbox.images import DEBOOTSTRAP_BASE, assignment_image, runner_image
from tests.conftest import LEDGER_DIR
from tests.faults.conftest import FaultStack, wait_until
from tests.faults.engine import PrivateEngine, private_engine

pytestmark = [pytest.mark.integration, pytest.mark.fault]


def _sandboxes(engine: PrivateEngine) -> list[str]:
    listed = engine.docker("ps", "-aq", "--filter", f"label={OWNER_LABEL}={os.environ['GRADER_SANDBOX_OWNER']}")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def test_a_docker_restart_mid_run_is_retried_as_a_system_fault(
    fault_stack: FaultStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ledger = load_assignment(LEDGER_DIR)
    settings = Settings(home=tmp_path_factory.mktemp("images-home"))
    runner = runner_image(ledger.spec.runner, settings)
    image = assignment_image(ledger, settings)  # built (or found) on the machine's engine
    with private_engine() as engine:
        engine.load(DEBOOTSTRAP_BASE, runner.tag, image.tag)
        fault_stack.start_pool(DOCKER_HOST=engine.host)
        submission_id = fault_stack.submit("reference")
        fault_stack.wait_state(submission_id, ("running",), timeout=120)
        wait_until(lambda: _sandboxes(engine) != [], 60, "the run's sandbox containers exist")
        engine.restart()

        done = fault_stack.wait_state(submission_id, ("graded", "rejected", "error"), timeout=240)
        assert done["state"] == "graded", (done, fault_stack.history(submission_id))
        assert done["passed"] is True and done["percent"] == 100
        history = fault_stack.history(submission_id)
        retried = [e for e in history if e["state"] == "retrying"]
        assert retried and all(e["stage"] == "run" for e in retried), history
        # The engine's connection dropped, or it refused the retry's containers while shutting down: the
        # reason names the engine or its connection (the words depend on the moment the restart hit).
        assert all(any(w in e["detail"].lower() for w in ("docker", "connection")) for e in retried), [
            e["detail"] for e in retried
        ]
        assert not any(e["state"] in ("rejected", "error") for e in history)
        grades, credentials = fault_stack.counts(submission_id)
        assert grades == 1 and credentials <= 1  # none when held for review (the same code as a learner's before)
        # What the restart stopped is removed (by the worker, or by the janitor once the engine is back).
        wait_until(lambda: _sandboxes(engine) == [], 60, "no sandbox container left in the restarted engine")
