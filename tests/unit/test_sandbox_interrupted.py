"""Telling a run the engine cut short from one that ended on its own (grader.sandbox.containers), and
the wait between series of webhook tries (grader.jobs.delivery)."""

from __future__ import annotations

from pathlib import Path

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout
from urllib3.exceptions import ReadTimeoutError

from grader.config import Settings
from grader.core.errors import FaultKind, disposition
from grader.jobs.delivery import next_series_wait
from grader.sandbox.containers import SandboxInterrupted, _still_running, check_not_interrupted
from tests.unit.runs import container_run


@pytest.mark.parametrize("exit_code", [137, 143])
def test_a_sandbox_killed_from_outside_before_its_end_is_the_systems_fault(exit_code: int) -> None:
    run = container_run(b"", {"exit_code": exit_code})
    with pytest.raises(SandboxInterrupted, match="stopped from outside") as raised:
        check_not_interrupted(run, reported_end=False)
    outcome = disposition(raised.value)
    assert outcome.kind is FaultKind.SYSTEM and outcome.retry and not outcome.consumes_attempt


@pytest.mark.parametrize(
    "overrides, reported_end",
    [
        ({"exit_code": 137, "timed_out": True}, False),  # the worker's own deadline
        ({"exit_code": 137, "oom_killed": True}, False),  # out of memory: the run's own doing
        ({"exit_code": 137, "output_truncated": True}, False),  # killed for flooding its output
        ({"exit_code": 137}, True),  # the harness reported its end first
        ({"exit_code": 1}, False),  # an exit of its own
    ],
)
def test_ends_of_the_runs_own_are_not_interruptions(overrides: dict[str, object], reported_end: bool) -> None:
    check_not_interrupted(container_run(b"", overrides), reported_end)


def test_a_wait_that_times_out_means_still_running_and_a_lost_engine_does_not() -> None:
    assert _still_running(ReadTimeout("read timed out"))
    assert _still_running(RequestsConnectionError(ReadTimeoutError(None, "/", "Read timed out.")))  # type: ignore[arg-type]
    assert not _still_running(RequestsConnectionError(FileNotFoundError(2, "No such file or directory")))


def test_the_wait_between_series_of_webhook_tries_doubles_up_to_its_cap(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, webhook_retries=2, webhook_retry_base_s=5, webhook_max_backoff_s=100)
    waits = [next_series_wait(settings, attempts) for attempts in (3, 6, 9, 12, 30)]
    assert waits == [20, 40, 80, 100, 100]
