"""Output past the worker's cap is a failed grade that names the output limit, whatever else the run
reported (the judge's side of tests/integration/test_output_flood.py)."""

from __future__ import annotations

import pytest

from grader.core.judge import ServiceFacts
from grader.core.spec import LoadedAssignment, load_assignment
from tests.conftest import LEDGER_DIR
from tests.unit.test_judge import clean_events, end_event, run


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    # Synthetic runs report the statically found ids; the manifest's parameter sets: tests/unit/test_manifest.py.
    return load_assignment(LEDGER_DIR).model_copy(update={"manifest": None})


@pytest.mark.parametrize("finished", [True, False])
def test_container_output_past_the_cap_fails_naming_the_output_limit(ledger: LoadedAssignment, finished: bool) -> None:
    # The harness may have finished cleanly (the flood came from beside it) or been cut off by the kill.
    end = end_event() if finished else None
    flood = {"output_truncated": True, "output_bytes": 9_000_000, "exit_code": 137}
    grade, codes = run(ledger, clean_events(ledger), end, container=flood)
    assert "output-flood" in codes and grade.passed is False and grade.score == 0.0
    detail = next(f.detail for f in grade.flags if f.code == "output-flood")
    assert detail.startswith("output limit exceeded") and "9000000 bytes" in detail


def test_output_within_the_cap_is_no_flood(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(), container={"output_bytes": 9_000_000})
    assert "output-flood" not in codes and grade.passed is True


def test_a_service_writing_past_the_cap_fails_naming_the_output_limit(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(1, {"event": "service", "ready": True, "waited_s": 1})
    cap = ledger.spec.limits.output_kb * 1024
    flooding = ServiceFacts(running_at_end=True, log_bytes=cap + 1)
    grade, codes = run(ledger, events, end_event(), mode="service", service=flooding)
    assert grade.passed is False and not grade.tampered and codes == set()
    assert grade.reason == f"output limit exceeded: the service wrote more than {ledger.spec.limits.output_kb} KB"
    quiet = ServiceFacts(running_at_end=True, log_bytes=cap)
    assert run(ledger, events, end_event(), mode="service", service=quiet)[0].passed is True
