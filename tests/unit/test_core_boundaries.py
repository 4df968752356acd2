"""Boundary and branch tests that pin the pure core: each one kills a mutant that a mutation run
(`make mutation`) once kept alive, such as the pass rule's `>=` turned into `>`, percent rounding
dropped, a grade that hit the output limit still passing, a canary that skipped not tripping, the
due date compared with `<`, the `@` user-info rule dropped, or a future webhook timestamp accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grader.core.grade import NOT_YET, Flag, Outcome, TestGrade
from grader.core.judge import Canary, LearnerFacts, RunFacts, ServiceFacts, judge, learner_detail
from grader.core.policy import Admission, History, RateLimits, Refusal, admit
from grader.core.rubric import (
    fail_reason,
    level_for,
    next_level,
    pass_level_name,
    pass_rule_text,
    percent_text,
    position,
    score_criterion,
    score_rubric,
    standing,
    zero_criteria,
)
from grader.core.run_report import ContainerRun, parse_harness_stream
from grader.core.spec import (
    AssignmentSpec,
    Criterion,
    LoadedAssignment,
    Rubric,
    SpecError,
    SubmissionPolicy,
    Suites,
    load_assignment,
    map_tests_to_criteria,
    parse_spec,
    spec_as_dict,
)
from grader.core.urlpolicy import MAX_URL_LENGTH, UrlRefused, check_ref, check_repo_url
from grader.core.webhook_signing import SignatureInvalid, encode_body, signature_header, verify_signature
from tests.conftest import LEDGER_DIR
from tests.unit.runs import container_run

SPEC_TEXT = (
    "id: ab\nversion: 1.0.0\ntitle: t\nrunner: python-3.11\ntests: {visible: v}\n"
    "rubric: {criteria: [{id: c, title: C, points: 1, tests: ['*'], levels: {Ok: 50}}]}\n"
)

# Rubric ------------------------------------------------------------------------------------------

LEVELS = {"Exemplary": 100, "Proficient": 75, "Developing": 40}


def criterion(cid: str = "core", points: float = 10, **extra: Any) -> Criterion:
    return Criterion(
        id=cid,
        title=f"Title of {cid}",
        points=points,
        tests=extra.pop("tests", ["*"]),
        levels=extra.pop("levels", LEVELS),
        **extra,
    )


def outcomes(cid: str, passed: int, failed: int) -> list[TestGrade]:
    kinds = [Outcome.PASSED] * passed + [Outcome.FAILED] * failed
    return [TestGrade(id=f"t.py::t{i}", suite="visible", criterion=cid, outcome=o) for i, o in enumerate(kinds)]


def rubric(min_percent: float, *criteria: Criterion, require: tuple[str, ...] = ()) -> Rubric:
    return Rubric.model_validate(
        {"pass": {"min_percent": min_percent, "require": list(require)}, "criteria": [c.model_dump() for c in criteria]}
    )


def test_total_exactly_at_the_pass_mark_passes() -> None:
    _, _, percent, passed = score_rubric(rubric(75, criterion()), outcomes("core", 3, 1))
    assert (percent, passed) == (75.0, True)
    _, _, percent, passed = score_rubric(rubric(75.01, criterion()), outcomes("core", 3, 1))
    assert (percent, passed) == (75.0, False)


def test_required_criterion_exactly_at_its_pass_level_passes() -> None:
    the_rubric = rubric(0, criterion(pass_level="Proficient"), require=("core",))
    assert score_rubric(the_rubric, outcomes("core", 3, 1))[3] is True
    assert (
        score_rubric(the_rubric, outcomes("core", 26, 9))[3] is False
    )  # 74.29%: the pass level compares 100 times the fraction


def test_a_criterion_that_is_not_required_does_not_block_the_pass() -> None:
    the_rubric = rubric(50, criterion("core", pass_level="Proficient"), criterion("extra", pass_level="Proficient"))
    criteria, _, percent, passed = score_rubric(the_rubric, outcomes("core", 4, 0) + outcomes("extra", 1, 3))
    assert percent == 62.5 and passed is True
    assert [c.meets_pass_level for c in criteria] == [True, False]


def test_percentages_and_points_are_rounded_to_two_decimals() -> None:
    grade = score_criterion(criterion(points=3), outcomes("core", 1, 2), required=False)
    assert (grade.points, grade.percent) == (1.0, 33.33)
    criteria, score, percent, _ = score_rubric(rubric(80, criterion(points=1)), outcomes("core", 1, 2))
    assert (criteria[0].points, score, percent) == (0.33, 0.33, 33.0)
    _, score, percent, _ = score_rubric(rubric(80, criterion(points=7)), outcomes("core", 1, 2))
    assert (score, percent) == (2.33, 33.29)


def test_a_criterion_without_tests_scores_nothing() -> None:
    grade = score_criterion(criterion(), [], required=True)
    assert (grade.points, grade.percent, grade.tests_total, grade.level) == (0.0, 0.0, 0, NOT_YET)


def test_zero_criteria_gives_no_credit_at_all() -> None:
    the_rubric = rubric(80, criterion("core", points=35), criterion("extra", points=5), require=("core",))
    core, extra = zero_criteria(the_rubric, outcomes("core", 3, 0) + outcomes("extra", 1, 1))
    assert core.model_dump() == {
        "id": "core",
        "title": "Title of core",
        "points": 0.0,
        "max_points": 35.0,
        "percent": 0.0,
        "level": NOT_YET,
        "required": True,
        "meets_pass_level": False,
        "tests_passed": 0,
        "tests_total": 3,
    }
    assert (extra.required, extra.tests_total, extra.max_points) == (False, 2, 5.0)


@pytest.mark.parametrize(
    ("value", "text"), [(68.75, "68.75"), (80.0, "80"), (26.666, "26.67"), (0.004, "0"), (99.995, "100")]
)
def test_percent_text(value: float, text: str) -> None:
    assert percent_text(value) == text


def test_level_thresholds_are_inclusive() -> None:
    assert [level_for(criterion(), p) for p in (100, 75, 74.99, 40, 39.99)] == [
        "Exemplary",
        "Proficient",
        "Developing",
        "Developing",
        NOT_YET,
    ]


def test_pass_level_defaults_to_the_lowest_level() -> None:
    assert pass_level_name(criterion()) == "Developing"
    assert pass_level_name(criterion(pass_level="Exemplary")) == "Exemplary"


def test_next_level_is_the_lowest_one_above() -> None:
    assert next_level(criterion(), 0) == ("Developing", 40)
    assert next_level(criterion(), 40) == ("Proficient", 75)
    assert next_level(criterion(), 99.99) == ("Exemplary", 100)
    assert next_level(criterion(), 100) is None


def test_position_and_standing_texts() -> None:
    core = criterion(pass_level="Proficient")
    below = score_criterion(core, outcomes("core", 11, 5), required=True)
    assert position(core, below) == "11 of 16 tests, 68.75%; needs 75% for Proficient"
    assert standing(core, below) == "Title of core (required): 11 of 16 tests, 68.75%; needs 75% for Proficient"
    optional = score_criterion(core, outcomes("core", 11, 5), required=False)
    assert standing(core, optional) == "Title of core: 11 of 16 tests, 68.75%; Developing, needs 75% for Proficient"
    top = score_criterion(core, outcomes("core", 2, 0), required=True)
    assert position(core, top) == "2 of 2 tests, 100%; Exemplary, the top level"


def test_pass_rule_text_names_every_required_criterion() -> None:
    the_rubric = rubric(
        80,
        criterion("a", pass_level="Proficient"),
        criterion("b"),
        criterion("c", levels={"Ok": 50}),
        require=("a", "c"),
    )
    assert pass_rule_text(the_rubric) == (
        "To pass: at least 80% overall, and Title of a at Proficient (75%) or above; Title of c at Ok (50%) or above."
    )
    assert pass_rule_text(rubric(62.5, criterion())) == "To pass: at least 62.5% overall."


def test_fail_reason_names_only_what_is_unmet() -> None:
    the_rubric = rubric(
        60, criterion("a", pass_level="Proficient"), criterion("b", pass_level="Proficient"), require=("a",)
    )
    criteria, _, percent, passed = score_rubric(the_rubric, outcomes("a", 2, 2) + outcomes("b", 4, 0))
    assert (percent, passed) == (75.0, False)
    assert fail_reason(the_rubric, criteria, percent) == (
        "Title of a (required) is at 50% (2 of 4 tests), below the 75% it needs for Proficient."
    )
    criteria, _, percent, _ = score_rubric(the_rubric, outcomes("a", 4, 0) + outcomes("b", 0, 4))
    assert fail_reason(the_rubric, criteria, percent) == "The total is 50%, below the pass mark of 60%."
    assert fail_reason(the_rubric, criteria, 60.0) == "."  # nothing unmet: the judge never asks then


# Judge -------------------------------------------------------------------------------------------

TOKEN = "boundary-token"
CANARY = Canary(suite="hidden", file="test_core_hidden.py", name="test_planted_x", left=1, right=2, total=4)


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    # Synthetic runs report the statically found ids; the manifest's parameter sets: tests/unit/test_manifest.py.
    return load_assignment(LEDGER_DIR).model_copy(update={"manifest": None})


def _line(event: dict[str, Any]) -> bytes:
    return f"@@grader:{TOKEN}:".encode() + json.dumps(event).encode() + b"\n"


def judged(
    ledger: LoadedAssignment,
    canary_outcome: str = "failed",
    *,
    drop: int = 0,
    extra: list[dict[str, Any]] | None = None,
    ended: bool = True,
    container: dict[str, Any] | None = None,
    raw: bytes = b"",
    mode: str = "unit",
    service: ServiceFacts | None = None,
    learner: LearnerFacts | None = None,
    **end: Any,
) -> Any:
    """A run of the ledger where every test passes, less the last `drop` ones, plus `extra` events."""
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}]
    for suite, ids in ledger.test_ids.items():
        events += [{"event": "result", "suite": suite, "id": i, "outcome": "passed"} for i in ids]
    events = events[: len(events) - drop]
    events.append({"event": "result", "suite": "hidden", "id": CANARY.id, "outcome": canary_outcome})
    events += extra or []
    events.append({"event": "finish", "exit_status": 0})
    if ended:
        events.append({"event": "end", "timed_out": False, "child_finished": True, "child_exit": 0} | end)
    stream = raw + b"".join(_line(e) for e in events)
    report = parse_harness_stream(stream, TOKEN)
    facts = RunFacts(
        report=report,
        container=container_run(stream, container),
        canaries=[CANARY],
        commit="c" * 40,
        mode=mode,
        service=service,
        learner=learner,
    )
    return judge(ledger, facts)


def test_clean_run_passes(ledger: LoadedAssignment) -> None:
    grade = judged(ledger)
    assert (grade.passed, grade.reason, grade.flags) == (True, "", [])


def test_a_grade_that_hit_the_output_limit_does_not_pass(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, output_truncated=True, output_bytes=300_000)
    assert grade.passed is False and not grade.tampered
    assert grade.score == 100.0  # the tests' scores stand; the limit alone fails the grade
    assert grade.reason == "output limit exceeded: printed 300000 bytes, the limit is 256 KB"


@pytest.mark.parametrize("outcome", ["passed", "skipped", "error"])
def test_a_canary_that_does_not_fail_trips(ledger: LoadedAssignment, outcome: str) -> None:
    grade = judged(ledger, canary_outcome=outcome)
    (flag,) = [f for f in grade.flags if f.code == "canary-passed"]
    assert flag.tripwire and grade.tampered and grade.score == 0.0 and grade.passed is False
    assert learner_detail(flag) == "1 planted must-fail test(s) reported something other than a failure"
    assert f"hidden:{CANARY.id} reported {outcome}" in flag.detail
    assert CANARY.name not in learner_detail(flag)


def test_flag_specifics_are_listed_up_to_five_then_counted(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, drop=7)
    (flag,) = [f for f in grade.flags if f.code == "missing-results"]
    missing = [f"hidden:{i}" for i in ledger.test_ids["hidden"][-7:]]
    assert flag.detail == (
        "7 expected test(s) never reported a result | author only: " + ", ".join(missing[:5]) + " and 2 more"
    )
    assert learner_detail(flag) == "7 expected test(s) never reported a result"
    (five,) = [f for f in judged(ledger, drop=5).flags if f.code == "missing-results"]
    assert five.detail.endswith(", ".join(f"hidden:{i}" for i in ledger.test_ids["hidden"][-5:]))


def test_a_flag_without_specifics_is_its_summary(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, extra=[{"event": "tamper", "code": "always-equal", "detail": ""}])
    (flag,) = [f for f in grade.flags if f.code == "always-equal"]
    assert flag.detail == "seen 1 time(s) while the tests ran" == learner_detail(flag)


def test_learner_detail_stops_at_the_first_author_marker() -> None:
    flag = Flag(code="x", detail="2 things | author only: a | author only: b")
    assert learner_detail(flag) == "2 things"
    assert learner_detail(Flag(code="x", detail="no marker here")) == "no marker here"


def test_a_deadline_kill_is_not_a_sandbox_kill(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, ended=False, container={"timed_out": True, "exit_code": 137})
    codes = {f.code for f in grade.flags}
    assert "harness-unresponsive" in codes and "sandbox-killed" not in codes
    assert grade.reason.startswith("time limit exceeded")


def details(grade: Any) -> list[tuple[str, str, bool]]:
    return [(f.code, f.detail, f.tripwire) for f in grade.flags]


def test_malformed_lines_and_events_add_up(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, raw=f"@@grader:{TOKEN}:not json\n".encode(), malformed_events=2)
    assert details(grade) == [("malformed-results", "3 malformed result event(s)", True)]
    grade = judged(ledger, raw=f"@@grader:{TOKEN}:[1]\n".encode())
    assert details(grade) == [("malformed-results", "1 malformed result event(s)", True)]


def test_flood_and_incomplete_harness(ledger: LoadedAssignment) -> None:
    flood = judged(ledger, container={"output_truncated": True})
    assert [(f.code, f.tripwire) for f in flood.flags] == [("output-flood", True)]
    incomplete = judged(ledger, ended=False)
    assert details(incomplete) == [("harness-incomplete", "the harness did not report the end of the run", True)]


def test_duplicate_result_detail(ledger: LoadedAssignment) -> None:
    first = ledger.test_ids["visible"][0]
    grade = judged(ledger, extra=[{"event": "result", "suite": "visible", "id": first, "outcome": "passed"}])
    assert details(grade) == [
        ("duplicate-result", f"1 test result(s) reported twice | author only: visible:{first}", True)
    ]


def test_signals_count_every_event_and_quote_three(ledger: LoadedAssignment) -> None:
    tampers = [{"event": "tamper", "code": "gc-introspection", "detail": f"d{i}"} for i in range(4)]
    notices = [{"event": "notice", "code": "network-attempt", "detail": f"n{i}"} for i in range(4)]
    grade = judged(ledger, extra=tampers + notices)
    assert details(grade) == [
        ("gc-introspection", "seen 4 time(s) while the tests ran | author only: d0; d1; d2", True),
        ("network-attempt", "seen 4 time(s) while the tests ran | author only: n0; n1; n2", False),
    ]


def test_sandbox_kills_are_named_and_are_limits(ledger: LoadedAssignment) -> None:
    killed = judged(ledger, ended=False, container={"exit_code": 137})
    assert details(killed) == [
        (
            "sandbox-killed",
            "the harness was killed before it reported: by the memory limit, or by a process in the sandbox",
            False,
        )
    ]
    assert killed.reason == "resource limit exceeded: the sandbox was killed (memory limit 256 MB or process limit)"
    out_of_threads = judged(ledger, ended=False, container={"exit_code": 2})
    assert out_of_threads.reason == "resource limit exceeded: the sandbox ran out of processes (process limit)"
    unresponsive = judged(ledger, ended=False, container={"timed_out": True, "exit_code": 0})
    assert details(unresponsive) == [
        (
            "harness-unresponsive",
            "the harness never reported, and the worker's deadline ended the run (stopped or starved)",
            False,
        )
    ]
    assert not any(f.tripwire for f in killed.flags + unresponsive.flags)
    assert judged(ledger, ended=True, container={"exit_code": 137}).flags == []  # the harness did report


@pytest.mark.parametrize(
    ("service", "probe", "why"),
    [
        (ServiceFacts(running_at_end=True, oom_killed=True), "refused", "it ran out of memory"),
        (ServiceFacts(running_at_end=False, exit_code=3), "refused", "it exited with code 3"),
        (ServiceFacts(running_at_end=True), "HTTP 503", "the last answer was: HTTP 503"),
        (ServiceFacts(running_at_end=True), "", "the last answer was: none"),
        (None, "", "the last answer was: none"),
    ],
)
def test_service_not_ready_says_why(
    ledger: LoadedAssignment, service: ServiceFacts | None, probe: str, why: str
) -> None:
    readiness = {"event": "service", "ready": False, "waited_s": 20.4, "detail": probe}
    grade = judged(ledger, extra=[readiness], mode="service", service=service)
    assert grade.reason == f"the service did not become ready within 20 s ({why})"
    assert grade.passed is False


def test_a_ready_service_or_another_mode_has_no_readiness_reason(ledger: LoadedAssignment) -> None:
    ready = {"event": "service", "ready": True, "waited_s": 1.0, "detail": "200"}
    assert judged(ledger, extra=[ready], mode="service", service=ServiceFacts(running_at_end=True)).passed is True
    not_ready = {"event": "service", "ready": False, "waited_s": 1.0, "detail": "refused"}
    assert judged(ledger, extra=[not_ready], mode="unit").passed is True


def test_a_collection_error_of_a_class_counts_for_its_whole_file(ledger: LoadedAssignment) -> None:
    file = CANARY.file
    in_file = [i for i in ledger.test_ids["hidden"] if i.startswith(file + "::")]
    error = {"event": "collect_error", "suite": "hidden", "file": f"{file}::TestSomething", "message": "boom"}
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}, error]
    for suite, ids in ledger.test_ids.items():
        events += [{"event": "result", "suite": suite, "id": i, "outcome": "passed"} for i in ids if i not in in_file]
    events += [
        {"event": "finish", "exit_status": 1},
        {"event": "end", "timed_out": False, "child_finished": True, "child_exit": 1},
    ]
    stream = b"".join(_line(e) for e in events)
    container = ContainerRun(
        name="run",
        runtime="runsc",
        exit_code=0,
        timed_out=False,
        oom_killed=False,
        output=stream,
        output_bytes=len(stream),
        output_truncated=False,
        duration=1.0,
    )
    report = parse_harness_stream(stream, TOKEN)
    grade = judge(ledger, RunFacts(report=report, container=container, canaries=[CANARY], commit="c" * 40))
    assert grade.flags == []  # neither the canary nor the file's tests are "missing"
    stopped = [t for t in grade.tests if t.id in in_file]
    assert stopped and all(t.message == "could not be collected: boom" for t in stopped)


def test_results_keep_their_duration_and_message(ledger: LoadedAssignment) -> None:
    first = ledger.test_ids["visible"][0]
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}]
    for suite, ids in ledger.test_ids.items():
        for i in ids:
            outcome = "failed" if i == first else "passed"
            events.append(
                {"event": "result", "suite": suite, "id": i, "outcome": outcome, "duration": 0.25, "message": "m"}
            )
    events += [
        {"event": "result", "suite": "hidden", "id": CANARY.id, "outcome": "failed"},
        {"event": "finish", "exit_status": 1},
        {"event": "end", "timed_out": False, "child_finished": True, "child_exit": 1},
    ]
    stream = b"".join(_line(e) for e in events)
    container = ContainerRun(
        name="run",
        runtime="runsc",
        exit_code=0,
        timed_out=False,
        oom_killed=False,
        output=stream,
        output_bytes=len(stream),
        output_truncated=False,
        duration=1.0,
    )
    grade = judge(
        ledger,
        RunFacts(report=parse_harness_stream(stream, TOKEN), container=container, canaries=[CANARY], commit="c" * 40),
    )
    (test,) = [t for t in grade.tests if t.id == first]
    assert (test.outcome, test.duration, test.message) == (Outcome.FAILED, 0.25, "m")


# Submission policy -------------------------------------------------------------------------------

DUE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = RateLimits(learner_per_hour=10, tenant_per_minute=5)


def at(now: datetime, policy: SubmissionPolicy, history: History | None = None, tenant: int | None = None) -> Any:
    return admit(policy, history or History(), now, LIMITS, tenant)


@pytest.mark.parametrize("late", ["reject", "accept", "flag"])
def test_a_submission_exactly_at_the_due_date_is_on_time(late: Any) -> None:
    assert at(DUE, SubmissionPolicy(due=DUE, late=late)) == Admission(attempt=1, late=False)


def test_one_microsecond_after_the_due_date_is_late() -> None:
    after = DUE + timedelta(microseconds=1)
    refusal = at(after, SubmissionPolicy(due=DUE, late="reject"))
    assert isinstance(refusal, Refusal) and (refusal.code, refusal.status) == ("past-due", 409)
    assert DUE.isoformat() in refusal.detail
    assert at(after, SubmissionPolicy(due=DUE, late="accept")) == Admission(attempt=1, late=True)
    assert at(after, SubmissionPolicy(due=DUE, late="flag")) == Admission(attempt=1, late=True)


def test_rate_limits_refuse_at_the_limit_not_before() -> None:
    policy = SubmissionPolicy()
    assert isinstance(at(DUE, policy, History(tenant_last_minute=4)), Admission)
    tenant = at(DUE, policy, History(tenant_last_minute=5))
    assert isinstance(tenant, Refusal) and tenant.retry_after_s == 60 and "5 times a minute" in tenant.detail
    assert isinstance(at(DUE, policy, History(tenant_last_minute=5), tenant=6), Admission)  # the tenant's own limit
    assert isinstance(at(DUE, policy, History(learner_last_hour=9)), Admission)
    learner = at(DUE, policy, History(learner_last_hour=10))
    assert isinstance(learner, Refusal) and learner.retry_after_s == 3600 and "10 times an hour" in learner.detail


def test_cooldown_ends_exactly_on_time_and_rounds_the_wait_up() -> None:
    policy = SubmissionPolicy(cooldown_s=60)
    last = DUE - timedelta(seconds=60)
    assert isinstance(at(DUE, policy, History(attempts_used=1, last_submitted_at=last)), Admission)
    early = at(DUE - timedelta(milliseconds=500), policy, History(attempts_used=1, last_submitted_at=last))
    assert isinstance(early, Refusal) and early.code == "cooldown" and early.retry_after_s == 1


# Repository URLs ---------------------------------------------------------------------------------

HOSTS, SCHEMES = ["github.com"], ["https"]


@pytest.mark.parametrize(
    "url",
    [
        "https://@github.com/a/b.git",
        "https://:@github.com/a/b.git",
        "https://u@github.com/a/b.git",
        "https://a@b@github.com/c.git",
    ],
)
def test_any_user_info_is_refused(url: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_repo_url(url, HOSTS, SCHEMES)
    assert refused.value.rule == "userinfo"


def test_url_length_limit_is_inclusive() -> None:
    base = "https://github.com/a/"
    longest = base + "b" * (MAX_URL_LENGTH - len(base))
    assert check_repo_url(longest, HOSTS, SCHEMES).path == "/a/" + "b" * (MAX_URL_LENGTH - len(base))
    with pytest.raises(UrlRefused) as refused:
        check_repo_url(longest + "b", HOSTS, SCHEMES)
    assert refused.value.rule == "too-long"


# Webhook signatures ------------------------------------------------------------------------------

SECRET, BODY, NOW = "whsec_boundary", b'{"id":"evt_1"}', 1_700_000_000


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_signatures_within_the_tolerance_are_accepted(offset: int) -> None:
    header = signature_header(SECRET, NOW + offset, BODY)
    assert verify_signature(SECRET, header, BODY, NOW, tolerance_s=300) == NOW + offset


@pytest.mark.parametrize("offset", [-301, 301, 10**9])
def test_stale_and_future_timestamps_are_refused(offset: int) -> None:
    header = signature_header(SECRET, NOW + offset, BODY)
    with pytest.raises(SignatureInvalid, match=f"{abs(offset)} s away from now"):
        verify_signature(SECRET, header, BODY, NOW, tolerance_s=300)


def test_default_tolerance_is_five_minutes() -> None:
    assert verify_signature(SECRET, signature_header(SECRET, NOW + 300, BODY), BODY, NOW) == NOW + 300
    with pytest.raises(SignatureInvalid):
        verify_signature(SECRET, signature_header(SECRET, NOW + 301, BODY), BODY, NOW)


def test_any_matching_v1_signature_is_enough() -> None:
    good = signature_header(SECRET, NOW, BODY).split("v1=")[1]
    assert verify_signature(SECRET, f"t={NOW},v1=deadbeef, v1={good}", BODY, NOW) == NOW
    with pytest.raises(SignatureInvalid, match=r"^no v1 signature matches the body$"):
        verify_signature(SECRET, f"t={NOW},v1=deadbeef", BODY, NOW)


@pytest.mark.parametrize("header", ["", "t=,v1=ab", f"t={NOW}", f"t=-{NOW},v1=ab", "v1=ab,v2=cd", f"t={NOW},v1="])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureInvalid, match=r"^expected a header like t=<seconds>,v1=<hex>$"):
        verify_signature(SECRET, header, BODY, NOW)


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://10.0.0.1/a/b.git", "IP address '10.0.0.1'"),
        ("https://[::1]/a/b.git", "IP address '::1'"),
        ("https://evil.example/a/b.git", "host 'evil.example'"),
        ("https://evil.example:8443/a/b.git", "host 'evil.example:8443'"),
    ],
)
def test_a_host_off_the_allowlist_is_named_as_what_it_is(url: str, named: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_repo_url(url, HOSTS, SCHEMES)
    assert refused.value.rule == "host-not-allowed"
    assert f"{named} is not on the allowlist ['github.com']" in str(refused.value)


def test_a_refused_ref_is_quoted() -> None:
    with pytest.raises(UrlRefused, match=r"'--upload-pack=x' is not a plain branch, tag or commit name"):
        check_ref("--upload-pack=x")


# Refusal titles are what the API's problem documents show.


def test_refusal_titles() -> None:
    exhausted = at(DUE, SubmissionPolicy(max_attempts=1), History(attempts_used=1))
    assert isinstance(exhausted, Refusal) and exhausted.title == "No attempts left"
    cooldown = at(DUE, SubmissionPolicy(cooldown_s=60), History(attempts_used=1, last_submitted_at=DUE))
    assert isinstance(cooldown, Refusal) and cooldown.title == "Too soon after the last attempt"
    assert cooldown.retry_after_s == 60 and "wait 60 s between attempts" in cooldown.detail
    past = at(DUE + timedelta(seconds=1), SubmissionPolicy(due=DUE))
    assert isinstance(past, Refusal) and past.title == "The assignment is past its due date"
    tenant = at(DUE, SubmissionPolicy(), History(tenant_last_minute=5))
    assert isinstance(tenant, Refusal) and tenant.title == "Too many submissions for this tenant"
    learner = at(DUE, SubmissionPolicy(), History(learner_last_hour=10))
    assert isinstance(learner, Refusal) and learner.title == "Too many submissions from this learner"


def test_the_shortest_wait_is_one_second() -> None:
    policy = SubmissionPolicy(cooldown_s=60)
    last = DUE - timedelta(seconds=60)
    almost = at(DUE - timedelta(milliseconds=10), policy, History(attempts_used=1, last_submitted_at=last))
    assert isinstance(almost, Refusal) and almost.retry_after_s == 1


# Spec errors name the field where the problem is.


def test_a_whole_spec_problem_is_at_the_top_level() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(SPEC_TEXT + "service: {start: x, port: 80}\n")
    (issue,) = error.value.issues
    assert (issue.field, issue.message) == ("(top level)", "a 'service' block is only allowed with mode 'service'")


def test_a_criterion_problem_names_the_criterion_not_the_validator() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(SPEC_TEXT.replace("levels: {Ok: 50}", "levels: {Ok: 50}, pass_level: Top"))
    (issue,) = error.value.issues
    assert issue.field == "rubric.criteria[0]"
    assert issue.message == "pass_level 'Top' is not one of the levels ['Ok']"


# Webhook bodies are the exact bytes that are signed.


def test_encoded_body_is_compact_utf8_in_key_order() -> None:
    assert encode_body({"b": "é", "a": [1, {"x": None}]}) == '{"b":"é","a":[1,{"x":null}]}'.encode()


def test_header_parts_split_at_the_first_equals_sign() -> None:
    with pytest.raises(SignatureInvalid, match=r"^no v1 signature matches the body$"):
        verify_signature(SECRET, f"t={NOW},v1=abc=", BODY, NOW)
    with pytest.raises(SignatureInvalid, match=r"^expected a header like t=<seconds>,v1=<hex>$"):
        verify_signature(SECRET, f"t={NOW},v2=cd", BODY, NOW)


def test_spec_as_dict_round_trips_with_aliases_and_without_nones(ledger: LoadedAssignment) -> None:
    dumped = spec_as_dict(ledger.spec)
    assert AssignmentSpec.model_validate(dumped) == ledger.spec
    assert "pass" in dumped["rubric"] and "pass_rule" not in dumped["rubric"]
    assert "service" not in dumped and "due" not in dumped["submission"]
    json.dumps(dumped)  # JSON-ready: the store keeps it as JSON


def test_suite_folders(ledger: LoadedAssignment) -> None:
    assert ledger.suite_dirs() == {"visible": ledger.root / "tests/visible", "hidden": ledger.root / "tests/hidden"}
    visible_only = ledger.model_copy(
        update={"spec": ledger.spec.model_copy(update={"tests": Suites(visible="tests/visible")})}
    )
    assert visible_only.hidden_dir is None
    assert visible_only.suite_dirs() == {"visible": ledger.root / "tests/visible"}
    assert ledger.all_test_ids() == ledger.test_ids["visible"] + ledger.test_ids["hidden"]


# Every refusal names its rule and says why, word for word (the CLI and the API show these).

REFUSALS = [
    ("", "empty", "no URL was given"),
    ("https://github.com/" + "a" * MAX_URL_LENGTH, "too-long", f"URLs are limited to {MAX_URL_LENGTH} characters"),
    ("-u/tmp/x", "option-injection", "a URL may not start with '-' (it would be read as a git option)"),
    (
        "ext::sh -c x",
        "transport-helper",
        "'<name>::' selects a git remote helper such as ext::, which can run commands",
    ),
    ("https://github.com/a b", "control-characters", "the URL contains spaces or control characters"),
    ("/srv/repo", "local-path", "local paths are not repositories a learner can submit"),
    ("c:\\repo", "local-path", "local paths are not repositories a learner can submit"),
    ("file:///etc", "local-path", "file:// URLs read the grader's own disk"),
    (
        "github.com/a/b.git",
        "scheme",
        "expected a URL such as https://host/owner/repo.git; allowed schemes: ['https']",
    ),
    (
        "https:github.com/a/b.git",
        "scheme",
        "expected a URL such as https://host/owner/repo.git; allowed schemes: ['https']",
    ),
    ("http://github.com/a/b.git", "scheme", "scheme 'http' is not allowed; allowed: ['https']"),
    ("https://u:p@github.com/a/b.git", "userinfo", "credentials or user names in the URL are not allowed"),
    ("https://github.com/a/b.git?x=1", "query", "a repository URL has no query string or fragment"),
    ("https://github.com/a/b.git#main", "query", "a repository URL has no query string or fragment"),
    ("https:///a/b.git", "host", "the URL names no host"),
    ("https://github.com:99999/a/b.git", "port", "invalid port: Port out of range 0-65535"),
    ("https://github.com", "path", "the URL names no repository path"),
    ("https://github.com/a/../b.git", "path", "path segment '..' is not allowed (letters, digits, . _ ~ - only)"),
    (
        "https://github.com/a/b%20c.git",
        "path",
        "path segment 'b%20c.git' is not allowed (letters, digits, . _ ~ - only)",
    ),
]


@pytest.mark.parametrize(("url", "rule", "why"), REFUSALS)
def test_refusals_word_for_word(url: str, rule: str, why: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_repo_url(url, HOSTS, SCHEMES)
    assert (refused.value.rule, str(refused.value)) == (rule, f"refused by rule '{rule}': {why}")


def test_an_accepted_url_is_normalised() -> None:
    checked = check_repo_url("https://GitHub.com//a//b.git", HOSTS, SCHEMES)
    assert (checked.scheme, checked.host, checked.port, checked.path) == ("https", "github.com", None, "/a/b.git")
    assert check_repo_url("https://git.example:8443/a.git", ["git.example:8443"], SCHEMES).host_port == (
        "git.example:8443"
    )


def test_spec_yaml_errors_name_the_line_and_column() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec("id: ab\ntitle: [unclosed\n", "x/assignment.yaml")
    (issue,) = error.value.issues
    assert (issue.file, issue.field) == ("x/assignment.yaml", "line 3, column 1")
    assert issue.message.startswith("not valid YAML: ")


def test_a_spec_that_is_not_a_mapping() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec("- just\n- a list\n", "x/assignment.yaml")
    assert [i.model_dump() for i in error.value.issues] == [
        {"file": "x/assignment.yaml", "field": "(top level)", "message": "expected a mapping of fields"}
    ]
    assert str(error.value) == "x/assignment.yaml: (top level): expected a mapping of fields"


def test_spec_error_text_is_one_issue_a_line() -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(SPEC_TEXT.replace("version: 1.0.0", "version: one").replace("title: t", "title: t\nlate: x"))
    assert str(error.value) == (
        "assignment.yaml: version: expected a semantic version such as 1.0.0\n"
        "assignment.yaml: late: unknown field (check its spelling against the spec reference)"
    )


def test_an_unscored_test_names_the_criteria_field() -> None:
    criterion_of, issues = map_tests_to_criteria([criterion(tests=["a.py::*"])], ["a.py::t", "b.py::t"], "f.yaml")
    assert criterion_of == {"a.py::t": "core"}
    assert [i.model_dump() for i in issues] == [
        {"file": "f.yaml", "field": "rubric.criteria", "message": "test 'b.py::t' matches no criterion"}
    ]


def test_rate_refusals_are_rate_limited_problems() -> None:
    for history in (History(tenant_last_minute=5), History(learner_last_hour=10)):
        refusal = at(DUE, SubmissionPolicy(), history)
        assert isinstance(refusal, Refusal) and (refusal.code, refusal.status) == ("rate-limited", 429)


def test_timeout_and_memory_reasons_name_the_spec_limits(ledger: LoadedAssignment) -> None:
    timed_out = judged(ledger, ended=False, container={"timed_out": True})
    assert timed_out.reason == "time limit exceeded: the tests did not finish within 60 s"
    oom = judged(ledger, container={"oom_killed": True})
    assert oom.reason == "memory limit exceeded: the run used more than 256 MB"
    assert judged(ledger, ended=True, container={"exit_code": 137}).reason == ""


def test_a_tampered_grade_names_every_tripwire_and_has_no_credit(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, canary_outcome="passed", drop=1)
    assert grade.reason == "integrity check failed (canary-passed, missing-results): the results cannot be trusted"
    assert (grade.score, grade.percent, grade.passed) == (0.0, 0.0, False)
    assert all(c.points == 0.0 and c.level == NOT_YET for c in grade.criteria)
    (missing,) = [t for t in grade.tests if t.outcome is Outcome.MISSING]
    assert missing.message == "no result was reported"


def test_unexpected_test_detail(ledger: LoadedAssignment) -> None:
    invented = {"event": "result", "suite": "visible", "id": "test_core.py::test_invented", "outcome": "passed"}
    grade = judged(ledger, extra=[invented])
    assert details(grade) == [
        (
            "unexpected-test",
            "results for 1 test(s) the author never wrote | author only: visible:test_core.py::test_invented",
            True,
        )
    ]


def test_spec_as_dict_is_json_ready_with_dates() -> None:
    spec = parse_spec(SPEC_TEXT + "submission: {due: 2027-01-31T23:59:00Z}\n")
    dumped = spec_as_dict(spec)
    assert dumped["submission"]["due"] == "2027-01-31T23:59:00Z"
    assert json.loads(json.dumps(dumped)) == dumped


# Isolated unit mode: what the learner's own container did.


def test_learner_restarts_and_floods_are_notices(ledger: LoadedAssignment) -> None:
    grade = judged(ledger, mode="unit", learner=LearnerFacts(restarts=2, floods=3))
    assert details(grade) == [
        (
            "learner-flood",
            "the learner's code flooded its output 3 time(s); the test running then failed and a fresh learner "
            "process served the next one",
            False,
        ),
        (
            "learner-restarted",
            "the learner's process was started again 2 time(s): a call to it timed out or it stopped (the test "
            "running then failed)",
            False,
        ),
    ]
    assert grade.passed is True and grade.reason == ""
    assert judged(ledger, learner=LearnerFacts()).flags == []


def test_learner_limits_fail_the_grade_with_their_reason(ledger: LoadedAssignment) -> None:
    flooded = judged(ledger, learner=LearnerFacts(floods=9, flooded=True, output_bytes=300 * 1024 + 512))
    assert flooded.reason == "output limit exceeded: the learner's code wrote more than 300 KiB"
    assert flooded.passed is False and not flooded.tampered and flooded.flags == []
    oom = judged(ledger, learner=LearnerFacts(oom_killed=True))
    assert oom.reason == "memory limit exceeded: the learner's code used more than 256 MB (or too many processes)"
    assert oom.passed is False
