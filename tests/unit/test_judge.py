"""The judge's tripwires and the strict parser of the harness's stream: pure functions, synthetic runs.

A clean run of the ledger assignment scores 100 with no flags; each test below breaks one thing and
checks the one flag (or reason) it must produce.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from grader.core.grade import Flag
from grader.core.judge import Canary, RunFacts, ServiceFacts, judge
from grader.core.run_report import parse_harness_stream
from grader.core.spec import LoadedAssignment, load_assignment
from tests.conftest import LEDGER_DIR
from tests.unit.runs import container_run

TOKEN = "t0ken-for-tests"
CANARIES = [Canary(suite="hidden", file="test_core_hidden.py", name="test_sum_of_parts", left=1, right=2, total=4)]


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    # Synthetic runs report the statically found ids; the manifest's parameter sets: tests/unit/test_manifest.py.
    return load_assignment(LEDGER_DIR).model_copy(update={"manifest": None})


def line(event: dict[str, Any], token: str = TOKEN) -> bytes:
    return f"@@grader:{token}:".encode() + json.dumps(event).encode() + b"\n"


def end_event(**overrides: Any) -> dict[str, Any]:
    return {"event": "end", "timed_out": False, "child_finished": True, "child_exit": 0} | overrides


def clean_events(ledger: LoadedAssignment, outcome: str = "passed") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}]
    for suite, ids in ledger.test_ids.items():
        events += [{"event": "result", "suite": suite, "id": i, "outcome": outcome} for i in ids]
    events += [{"event": "result", "suite": c.suite, "id": c.id, "outcome": "failed"} for c in CANARIES]
    events.append({"event": "finish", "exit_status": 0 if outcome == "passed" else 1})
    return events


def run(
    ledger: LoadedAssignment,
    events: list[dict[str, Any]],
    end: dict[str, Any] | None = None,
    *,
    extra: bytes = b"",
    container: dict[str, Any] | None = None,
    **facts: Any,
) -> tuple[Any, set[str]]:
    stream = b"".join(line(e) for e in events) + extra + (line(end) if end is not None else b"")
    report = parse_harness_stream(stream, TOKEN)
    grade = judge(
        ledger,
        RunFacts(report=report, container=container_run(stream, container), canaries=CANARIES, commit="c" * 40, **facts),
    )
    return grade, {f.code for f in grade.flags}


def assert_tripped(grade: Any, codes: set[str], code: str) -> None:
    assert code in codes, codes
    assert grade.tampered and grade.score == 0.0 and grade.passed is False
    assert code in grade.reason and "integrity check failed" in grade.reason


def test_clean_run_scores_full_marks_without_flags(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event())
    assert (grade.score, grade.passed, codes) == (100.0, True, set())


# -- the stream and the harness ------------------------------------------------------------------


def test_line_with_another_token_is_forged(ledger: LoadedAssignment) -> None:
    forged = line({"event": "result", "suite": "visible", "id": "x", "outcome": "passed"}, token="guess")
    grade, codes = run(ledger, clean_events(ledger), end_event(), extra=forged)
    assert_tripped(grade, codes, "forged-result-line")


def test_malformed_line_trips(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(), extra=f"@@grader:{TOKEN}:{{not json\n".encode())
    assert_tripped(grade, codes, "malformed-results")


def test_duplicate_result_trips(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(2, events[1])
    grade, codes = run(ledger, events, end_event())
    assert_tripped(grade, codes, "duplicate-result")


def test_flood_outside_the_harness_trips(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(), container={"output_truncated": True})
    assert_tripped(grade, codes, "output-flood")


def test_no_end_event_trips(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), None)
    assert_tripped(grade, codes, "harness-incomplete")


def test_pytest_exiting_early_trips(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(child_finished=False))
    assert_tripped(grade, codes, "pytest-exited-early")


@pytest.mark.parametrize("exit_code", [2, 3, 4, 5, -6, None])
def test_only_exit_codes_0_and_1_are_accepted(ledger: LoadedAssignment, exit_code: int | None) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(child_exit=exit_code))
    assert_tripped(grade, codes, "unexpected-exit-code")


def test_exit_status_must_match_the_finish_event(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(child_exit=1))
    assert_tripped(grade, codes, "exit-status-mismatch")


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("forged_events", "forged-result-event"),
        ("events_after_finish", "result-after-finish"),
        ("protocol_in_output", "forged-output"),
    ],
)
def test_signed_channel_tripwires(ledger: LoadedAssignment, field: str, code: str) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(**{field: 2}))
    assert_tripped(grade, codes, code)


def test_signed_channel_tripwires_hold_even_when_a_limit_is_hit(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event(timed_out=True, forged_events=1, child_exit=None))
    assert_tripped(grade, codes, "forged-result-event")


# -- canaries and the expected set of tests ------------------------------------------------------


def test_canary_that_passes_trips(ledger: LoadedAssignment) -> None:
    events = [e | {"outcome": "passed"} if e.get("id") == CANARIES[0].id else e for e in clean_events(ledger)]
    grade, codes = run(ledger, events, end_event())
    assert_tripped(grade, codes, "canary-passed")


def test_canary_that_never_reports_trips(ledger: LoadedAssignment) -> None:
    events = [e for e in clean_events(ledger) if e.get("id") != CANARIES[0].id]
    grade, codes = run(ledger, events, end_event())
    assert_tripped(grade, codes, "canary-missing")


def test_missing_canary_is_excused_when_its_module_failed_to_collect(ledger: LoadedAssignment) -> None:
    events = [e for e in clean_events(ledger, "failed") if "test_core_hidden.py" not in str(e.get("id", ""))]
    events.insert(1, {"event": "collect_error", "suite": "hidden", "file": "test_core_hidden.py", "message": "boom"})
    grade, codes = run(ledger, events, end_event(child_exit=1))
    assert "canary-missing" not in codes and not grade.tampered
    assert any(t.message.startswith("could not be collected") for t in grade.tests)


def test_canaries_are_not_unexpected_tests(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger), end_event())
    assert "unexpected-test" not in codes
    assert all(t.id != CANARIES[0].id for t in grade.tests)


def test_expected_test_that_never_reports_trips(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    del events[1]
    grade, codes = run(ledger, events, end_event())
    assert_tripped(grade, codes, "missing-results")


def test_result_for_a_test_the_author_never_wrote_trips(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(1, {"event": "result", "suite": "visible", "id": "test_core.py::test_invented", "outcome": "passed"})
    grade, codes = run(ledger, events, end_event())
    assert_tripped(grade, codes, "unexpected-test")


# -- what the child and the worker report ---------------------------------------------------------


def test_tamper_events_trip_under_their_own_codes(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(1, {"event": "tamper", "code": "frame-introspection", "detail": "sys._getframe"})
    events.insert(1, {"event": "tamper", "code": "always-equal", "detail": "Anything"})
    grade, codes = run(ledger, events, end_event())
    assert {"frame-introspection", "always-equal"} <= codes
    assert_tripped(grade, codes, "frame-introspection")


def test_notices_name_without_zeroing(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(1, {"event": "notice", "code": "network-attempt", "detail": "1.1.1.1"})
    worker_notice = Flag(code="learner-config-ignored", detail="conftest.py", tripwire=False)
    grade, codes = run(ledger, events, end_event(leftover_processes=2), notices=[worker_notice])
    assert codes == {"network-attempt", "leftover-processes", "learner-config-ignored"}
    assert grade.passed and grade.score == 100.0 and not grade.tampered


def test_timeout_is_a_limit_not_a_tamper(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)[:10]
    grade, codes = run(ledger, events, end_event(timed_out=True, child_finished=False, child_exit=None))
    assert not grade.tampered and grade.passed is False
    assert "time limit exceeded" in grade.reason
    assert {"missing-results", "canary-missing", "pytest-exited-early"}.isdisjoint(codes)


def test_killed_test_process_is_a_limit(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger)[:5], end_event(child_finished=False, child_exit=-9))
    assert not grade.tampered and grade.passed is False
    assert "killed" in grade.reason and "unexpected-exit-code" not in codes


def test_killed_sandbox_is_named(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger)[:5], None, container={"exit_code": 137})
    assert not grade.tampered and grade.passed is False
    assert "sandbox-killed" in codes and "resource limit exceeded" in grade.reason


def test_gvisor_kernel_out_of_threads_is_a_process_limit(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger)[:5], None, container={"exit_code": 2, "runtime": "runsc"})
    assert not grade.tampered and grade.passed is False
    assert "sandbox-killed" in codes and "ran out of processes" in grade.reason


def test_exit_2_without_gvisor_is_not_excused(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger)[:5], None, container={"exit_code": 2, "runtime": "runc"})
    assert grade.tampered and "harness-incomplete" in codes


def test_unresponsive_harness_is_named(ledger: LoadedAssignment) -> None:
    grade, codes = run(ledger, clean_events(ledger)[:5], None, container={"timed_out": True, "exit_code": None})
    assert not grade.tampered and "harness-unresponsive" in codes
    assert "time limit exceeded" in grade.reason


def test_service_not_ready_fails_with_the_reason(ledger: LoadedAssignment) -> None:
    events = [
        {"event": "start", "harness": 2},
        {"event": "service", "ready": False, "waited_s": 20, "detail": "refused"},
    ]
    service = ServiceFacts(running_at_end=False, exit_code=1)
    grade, codes = run(
        ledger, events, end_event(child_finished=False, child_exit=None), mode="service", service=service
    )
    assert grade.passed is False and not grade.tampered and grade.score == 0.0 and codes == set()
    assert grade.reason == "the service did not become ready within 20 s (it exited with code 1)"
    assert all(t.message.startswith("did not run") for t in grade.tests)


def test_service_printing_the_protocol_trips(ledger: LoadedAssignment) -> None:
    events = clean_events(ledger)
    events.insert(1, {"event": "service", "ready": True, "waited_s": 1})
    service = ServiceFacts(running_at_end=True, protocol_in_output=3)
    grade, codes = run(ledger, events, end_event(), mode="service", service=service)
    assert_tripped(grade, codes, "forged-output")


# -- the parser ---------------------------------------------------------------------------------


def test_parser_ignores_plain_output_and_counts_forgeries() -> None:
    stream = b"hello\n@@grader:other:{}\n" + line({"event": "start", "harness": 2}) + b"@@grader:\n"
    report = parse_harness_stream(stream, TOKEN)
    assert report.started and report.forged_lines == 2 and report.malformed_lines == 0


@pytest.mark.parametrize(
    "event",
    [
        {"event": "teleport"},
        {"event": "result", "suite": "visible", "id": "x", "outcome": "sort-of"},
        {"event": "result", "suite": "visible", "id": "x", "outcome": "missing"},
        {"event": "finish"},
        {"event": "tamper", "code": "Not A Code!", "detail": ""},
        {"event": "service", "waited_s": 1},
        [1, 2, 3],
    ],
)
def test_parser_counts_malformed_events(event: Any) -> None:
    stream = f"@@grader:{TOKEN}:".encode() + json.dumps(event).encode() + b"\n"
    assert parse_harness_stream(stream, TOKEN).malformed_lines == 1


def test_parser_refuses_events_after_end_and_second_ends() -> None:
    stream = line(end_event()) + line({"event": "result", "suite": "visible", "id": "x", "outcome": "passed"})
    stream += line(end_event())
    report = parse_harness_stream(stream, TOKEN)
    assert report.results == [] and report.malformed_lines == 2


def test_parser_reads_tampers_notices_and_service() -> None:
    stream = (
        line({"event": "tamper", "code": "gc-introspection", "detail": "gc.get_objects()"})
        + line({"event": "notice", "code": "exit-at-import", "detail": "sys.exit(0)"})
        + line({"event": "service", "ready": True, "waited_s": 0.5})
    )
    report = parse_harness_stream(stream, TOKEN)
    assert [t.code for t in report.tampers] == ["gc-introspection"]
    assert [n.code for n in report.notices] == ["exit-at-import"]
    assert report.service is not None and report.service.ready
