"""The judge: tamper tripwires, then rubric scoring. Pure: run facts in, Grade out.

A tripwire that fires means a zero score, a flag naming it, and (downstream) no credential. Limits a
learner's code hits (deadline, memory, output) are graded failures with a reason, never tripwires.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from grader.core.grade import Flag, Grade, Outcome, TestGrade
from grader.core.rubric import fail_reason, score_rubric, zero_criteria
from grader.core.run_report import ContainerRun, HarnessEnd, ReportedTest, RunReport, TestOutput
from grader.core.spec import LoadedAssignment
from grader.core.testids import base_id

ACCEPTED_EXIT_CODES = {0, 1}
SIGKILLED = 137
RUNSC_GO_FATAL = 2
SIGKILL = 9
# A flag's detail is "<summary for anyone> | author only: <specifics>". The summary names counts and
# reasons; the specifics (test ids, canary names, the harness's own words) can name hidden tests, so
# learner-facing output keeps only the summary (see learner_detail).
AUTHOR_ONLY = " | author only: "
SPECIFICS_SHOWN = 5


def _detail(summary: str, specifics: str = "") -> str:
    return summary + (AUTHOR_ONLY + specifics if specifics else "")


def learner_detail(flag: Flag) -> str:
    """What a learner may read of a flag: its summary, never the test ids or canary names after it."""
    return flag.detail.split(AUTHOR_ONLY, 1)[0]


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SPECIFICS_SHOWN])
    return shown + (f" and {len(items) - SPECIFICS_SHOWN} more" if len(items) > SPECIFICS_SHOWN else "")


class Canary(BaseModel):
    """A must-fail test planted in one of the author's test modules for one run."""

    suite: str
    file: str
    name: str
    left: int
    right: int
    total: int  # never left + right: the planted assertion always fails

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


class ServiceFacts(BaseModel):
    """Service mode: what the worker saw of the learner's own container."""

    running_at_end: bool
    exit_code: int | None = None
    oom_killed: bool = False
    log: str = ""  # the tail of the service's own output, for feedback
    log_bytes: int = 0
    protocol_in_output: int = 0  # the harness's protocol prefix printed by the learner's service


class LearnerFacts(BaseModel):
    """Isolated unit mode: what the worker saw of the learner's containers (the tester's is `container`)."""

    starts: int = 1
    restarts: int = 0  # after a call timed out or the process stopped
    planned_restarts: int = 0  # `isolation: per-test`
    exits: list[int] = []
    oom_killed: bool = False
    floods: int = 0  # learner containers killed for flooding the bridge (each failed the test in progress)
    flooded: bool = False  # so many that the learner's side was stopped for the rest of the run
    output_bytes: int = 0


class RunFacts(BaseModel):
    """Everything the judge needs about one run."""

    report: RunReport
    container: ContainerRun
    canaries: list[Canary]
    commit: str
    mode: str = "unit"
    notices: list[Flag] = []  # from the worker's own checks of the snapshot (never tripwires)
    service: ServiceFacts | None = None
    learner: LearnerFacts | None = None


def _service_reason(facts: RunFacts) -> str:
    readiness = facts.report.service
    if facts.mode != "service" or readiness is None or readiness.ready:
        return ""
    service = facts.service
    if service is not None and service.oom_killed:
        why = "it ran out of memory"
    elif service is not None and not service.running_at_end:
        why = f"it exited with code {service.exit_code}"
    else:
        why = f"the last answer was: {readiness.detail or 'none'}"
    return f"the service did not become ready within {readiness.waited_s:.0f} s ({why})"


def _sandbox_died(container: ContainerRun) -> bool:
    """The sandbox ended from outside before the harness could report: killed (137), or, under gVisor,
    its Go kernel's fatal exit when a fork bomb leaves it no thread to create."""
    if container.timed_out:
        return False
    return container.exit_code == SIGKILLED or (container.runtime == "runsc" and container.exit_code == RUNSC_GO_FATAL)


def _while_running(end: HarnessEnd | None) -> str:
    """Which test was running when the deadline passed: named when visible, never when hidden."""
    if end is None or not end.running or len(end.running[0]) != 2:
        return ""
    suite, test_id = end.running[0]
    return f" (while {test_id} was running)" if suite == "visible" else " (while a hidden test was running)"


def _stop_reason(facts: RunFacts, timeout_s: int, memory_mb: int) -> str:
    """Why the run was cut short by a limit, or "" when it ran to its end."""
    end = facts.report.end
    service_reason = _service_reason(facts)
    if service_reason:
        return service_reason
    if facts.service is not None and facts.service.oom_killed:
        return f"memory limit exceeded: the service used more than {memory_mb} MB"
    if facts.container.timed_out or (end is not None and end.timed_out):
        return f"time limit exceeded: the tests did not finish within {timeout_s} s{_while_running(end)}"
    if facts.container.oom_killed:
        return f"memory limit exceeded: the run used more than {memory_mb} MB"
    if end is None and _sandbox_died(facts.container) and facts.container.exit_code == SIGKILLED:
        # Only the kernel (memory or process limits) kills a sandbox from outside; our deadline kill is
        # reported as timed_out above. Docker's OOMKilled flag is not always set in time to see it.
        # (A learner's process can also SIGKILL the harness: the run fails the same way, and
        # _signal_flags names it "sandbox-killed".)
        return f"resource limit exceeded: the sandbox was killed (memory limit {memory_mb} MB or process limit)"
    if end is None and _sandbox_died(facts.container):
        # gVisor's kernel is a Go program: when a fork bomb exhausts the pids limit it cannot create a
        # thread and exits with Go's fatal-error status, taking the harness with it.
        return "resource limit exceeded: the sandbox ran out of processes (process limit)"
    if end is not None and end.child_exit == -SIGKILL:
        return f"resource limit exceeded: the test process was killed (memory limit {memory_mb} MB)"
    return ""


def _learner_reason(facts: RunFacts, memory_mb: int) -> str:
    """Isolated unit mode: a limit the learner's own container hit (the tests still ran to their end)."""
    learner = facts.learner
    if learner is None:
        return ""
    if learner.flooded:
        return f"output limit exceeded: the learner's code wrote more than {learner.output_bytes // 1024} KiB"
    if learner.oom_killed:
        return f"memory limit exceeded: the learner's code used more than {memory_mb} MB (or too many processes)"
    return ""


def _output_reason(facts: RunFacts, output_kb: int) -> str:
    end = facts.report.end
    if end is not None and end.output_truncated:
        return f"output limit exceeded: printed {end.output_bytes} bytes, the limit is {output_kb} KB"
    # Service mode: the service's own output is read up to the same cap (and only its tail kept).
    service = facts.service
    if service is not None and service.log_bytes > output_kb * 1024:
        return f"output limit exceeded: the service wrote more than {output_kb} KB"
    return ""


def _flood_detail(container: ContainerRun) -> str:
    # Only the harness writes to the container's stdout, and it caps the learner's output well below the
    # worker's read cap: output past that cap was written around the harness (e.g. to /proc/1/fd/1).
    return (
        f"output limit exceeded: {container.output_bytes} bytes or more reached the container's output, past "
        "its cap, written around the harness"
    )


def _harness_tripwires(facts: RunFacts, limit_hit: bool) -> list[Flag]:
    report, flags = facts.report, []
    if report.forged_lines:
        flags.append(Flag(code="forged-result-line", detail=f"{report.forged_lines} result line(s) with a wrong token"))
    malformed = report.malformed_lines + (report.end.malformed_events if report.end else 0)
    if malformed:
        flags.append(Flag(code="malformed-results", detail=f"{malformed} malformed result event(s)"))
    if report.duplicate_results:
        duplicates = report.duplicate_results
        flags.append(
            Flag(
                code="duplicate-result",
                detail=_detail(f"{len(duplicates)} test result(s) reported twice", _listed(duplicates)),
            )
        )
    if facts.container.output_truncated:
        flags.append(Flag(code="output-flood", detail=_flood_detail(facts.container)))
    flags.extend(_signed_channel_tripwires(report))
    if limit_hit:
        return flags
    end = report.end
    if not report.started or end is None:
        flags.append(Flag(code="harness-incomplete", detail="the harness did not report the end of the run"))
        return flags
    if not end.child_finished:
        flags.append(Flag(code="pytest-exited-early", detail=f"pytest ended without finishing (exit {end.child_exit})"))
    if end.child_exit not in ACCEPTED_EXIT_CODES:
        flags.append(
            Flag(code="unexpected-exit-code", detail=f"pytest exit code {end.child_exit}; only 0 and 1 are accepted")
        )
    elif report.finish_status is not None and report.finish_status != end.child_exit:
        flags.append(
            Flag(
                code="exit-status-mismatch",
                detail=f"pytest finished with {report.finish_status}, exited {end.child_exit}",
            )
        )
    return flags


def _signed_channel_tripwires(report: RunReport) -> list[Flag]:
    """What the harness saw on the result pipe and in the learner's output (see runners/harness)."""
    end = report.end
    flags: list[Flag] = []
    if end is None:
        return flags
    if end.forged_events:
        flags.append(
            Flag(code="forged-result-event", detail=f"{end.forged_events} unsigned or out-of-sequence result event(s)")
        )
    if end.events_after_finish:
        flags.append(
            Flag(code="result-after-finish", detail=f"{end.events_after_finish} result event(s) after pytest finished")
        )
    if end.protocol_in_output:
        flags.append(
            Flag(
                code="forged-output",
                detail=f"the submission printed the result protocol prefix {end.protocol_in_output} time(s)",
            )
        )
    return flags


def _signal_flags(facts: RunFacts) -> list[Flag]:
    """Tamper events are tripwires; notices (and the worker's own notices) only name what was seen."""
    flags: list[Flag] = []
    if facts.service is not None and facts.service.protocol_in_output:
        # The service's output is never read as results; printing the protocol is still a forgery attempt.
        flags.append(
            Flag(
                code="forged-output",
                detail=f"the service printed the result protocol prefix {facts.service.protocol_in_output} time(s)",
            )
        )
    by_code: dict[str, list[str]] = defaultdict(list)
    for tamper in facts.report.tampers:
        by_code[tamper.code].append(tamper.detail)
    # The harness's own words can name the test that was running (a hidden one too): author only.
    flags.extend(
        Flag(code=code, detail=_detail(f"seen {len(details)} time(s) while the tests ran", "; ".join(details[:3])))
        for code, details in by_code.items()
    )
    if facts.learner is not None and facts.learner.floods and not facts.learner.flooded:
        flags.append(
            Flag(
                code="learner-flood",
                detail=f"the learner's code flooded its output {facts.learner.floods} time(s); the test running "
                "then failed and a fresh learner process served the next one",
                tripwire=False,
            )
        )
    if facts.learner is not None and facts.learner.restarts:
        flags.append(
            Flag(
                code="learner-restarted",
                detail=f"the learner's process was started again {facts.learner.restarts} time(s): a call to it "
                "timed out or it stopped (the test running then failed)",
                tripwire=False,
            )
        )
    notices: dict[str, list[str]] = defaultdict(list)
    for notice in facts.report.notices:
        notices[notice.code].append(notice.detail)
    flags.extend(
        Flag(
            code=code,
            detail=_detail(f"seen {len(details)} time(s) while the tests ran", "; ".join(details[:3])),
            tripwire=False,
        )
        for code, details in notices.items()
    )
    end = facts.report.end
    if end is None and _sandbox_died(facts.container):
        flags.append(
            Flag(
                code="sandbox-killed",
                detail="the harness was killed before it reported: by the memory limit, or by a process in the sandbox",
                tripwire=False,
            )
        )
    if end is None and facts.container.timed_out:
        flags.append(
            Flag(
                code="harness-unresponsive",
                detail="the harness never reported, and the worker's deadline ended the run (stopped or starved)",
                tripwire=False,
            )
        )
    if end is not None and end.leftover_processes:
        flags.append(
            Flag(
                code="leftover-processes",
                detail=f"{end.leftover_processes} process(es) still running after pytest ended were killed",
                tripwire=False,
            )
        )
    return flags + list(facts.notices)


def _canary_tripwires(facts: RunFacts, limit_hit: bool) -> list[Flag]:
    reported = {(r.suite, r.id): r for r in facts.report.results}
    failed_files = {(e.suite, e.file.split("::")[0]) for e in facts.report.collect_errors}
    missing: list[str] = []
    not_failed: list[str] = []
    for canary in facts.canaries:
        result = reported.get((canary.suite, canary.id))
        if result is None and not limit_hit and (canary.suite, canary.file) not in failed_files:
            missing.append(f"{canary.suite}:{canary.id}")
        elif result is not None and result.outcome is not Outcome.FAILED:
            # Skipped or errored counts too: only a failure is the planted assertion's honest outcome.
            not_failed.append(f"{canary.suite}:{canary.id} reported {result.outcome.value}")
    flags = []
    if missing:
        flags.append(
            Flag(
                code="canary-missing",
                detail=_detail(f"{len(missing)} planted must-fail test(s) did not report", _listed(missing)),
            )
        )
    if not_failed:
        flags.append(
            Flag(
                code="canary-passed",
                detail=_detail(
                    f"{len(not_failed)} planted must-fail test(s) reported something other than a failure",
                    _listed(not_failed),
                ),
            )
        )
    return flags


def _not_reported(suite: str, test_id: str, collect_errors: dict[tuple[str, str], str], limit_reason: str) -> str:
    file_error = collect_errors.get((suite, test_id.split("::")[0]))
    if file_error is not None:
        return "could not be collected: " + file_error
    if limit_reason:
        return "did not run: " + limit_reason
    return ""


def _expected_ids(assignment: LoadedAssignment) -> list[tuple[str, str, bool]]:
    """(suite, id, exact) for every test a grade counts: the manifest's ids with their parameter sets
    (exact), or without a manifest the statically found ids, each standing for all its parameter sets."""
    if assignment.manifest is not None:
        return [(suite, test_id, True) for suite, ids in assignment.manifest.items() for test_id in ids]
    return [(suite, test_id, False) for suite, ids in assignment.test_ids.items() for test_id in ids]


# Output is attributed to tests in the unit modes only: in service mode the learner's program is the
# service, whose one log is not split by test (the tester's own output is the author's tests').
UNATTRIBUTED_MODES = {"service"}


def _test_outputs(facts: RunFacts) -> dict[tuple[str, str], TestOutput]:
    by_test: dict[tuple[str, str], TestOutput] = {}
    if facts.mode in UNATTRIBUTED_MODES:
        return by_test
    for output in facts.report.outputs:
        by_test.setdefault((output.suite, output.id), output)  # one per test; a repeat is not guessed at
    return by_test


def _outside_output(facts: RunFacts) -> str | None:
    """What was printed outside any test, or None when the run's output was not split by test."""
    end = facts.report.end
    if facts.mode in UNATTRIBUTED_MODES or end is None:
        return None
    return end.outside_output


def _test_grade(result: ReportedTest, suite: str, criterion: str, output: TestOutput | None) -> TestGrade:
    return TestGrade(
        id=result.id,
        suite=suite,
        criterion=criterion,
        outcome=result.outcome,
        duration=result.duration,
        message=result.message,
        output=output.output if output is not None else "",
        output_before_hidden=output is not None and output.before_hidden,
    )


def _grade_tests(
    assignment: LoadedAssignment, facts: RunFacts, limit_reason: str
) -> tuple[list[TestGrade], list[Flag]]:
    by_base: dict[tuple[str, str], list[ReportedTest]] = defaultdict(list)
    by_id: dict[tuple[str, str], ReportedTest] = {}
    canaries = {(c.suite, c.id) for c in facts.canaries}
    for result in facts.report.results:
        if (result.suite, result.id) not in canaries:
            by_base[(result.suite, base_id(result.id))].append(result)
            by_id[(result.suite, result.id)] = result
    collect_errors = {(e.suite, e.file.split("::")[0]): e.message for e in facts.report.collect_errors}
    outputs = _test_outputs(facts)
    tests: list[TestGrade] = []
    flags: list[Flag] = []
    missing: list[str] = []
    counted: set[tuple[str, str]] = set()
    for suite, test_id, exact in _expected_ids(assignment):
        criterion = assignment.criterion_of[base_id(test_id)]
        if exact:
            found = by_id.get((suite, test_id))
            results = [found] if found is not None else []
        else:
            results = by_base.get((suite, test_id), [])
        counted.update((suite, r.id) for r in results)
        tests.extend(_test_grade(r, suite, criterion, outputs.get((suite, r.id))) for r in results)
        if results:
            continue
        message = _not_reported(suite, test_id, collect_errors, limit_reason)
        if not message:
            message = "no result was reported"
            missing.append(f"{suite}:{test_id}")
        tests.append(TestGrade(id=test_id, suite=suite, criterion=criterion, outcome=Outcome.MISSING, message=message))
    if missing:
        flags.append(
            Flag(
                code="missing-results",
                detail=_detail(f"{len(missing)} expected test(s) never reported a result", _listed(missing)),
            )
        )
    static = {(suite, test_id) for suite, ids in assignment.test_ids.items() for test_id in ids}
    unexpected = sorted(f"{s}:{i}" for (s, i) in by_base if (s, i) not in static)
    if unexpected:
        flags.append(
            Flag(
                code="unexpected-test",
                detail=_detail(f"results for {len(unexpected)} test(s) the author never wrote", _listed(unexpected)),
            )
        )
    outside = sorted(f"{s}:{i}" for (s, i) in by_id if (s, base_id(i)) in static and (s, i) not in counted)
    if outside:
        # Parameter sets the manifest does not list (the learner's objects decided how many there were):
        # not counted either way, so they can neither raise nor lower the score.
        flags.append(
            Flag(
                code="outside-manifest",
                detail=_detail(f"{len(outside)} parameter set(s) not in the version's manifest, not counted",
                               _listed(outside)),
                tripwire=False,
            )
        )
    return tests, flags


def judge(assignment: LoadedAssignment, facts: RunFacts) -> Grade:
    spec = assignment.spec
    limits = spec.limits
    stop_reason = _stop_reason(facts, limits.timeout_s, limits.memory_mb)
    limit_hit = bool(stop_reason)
    # The learner's own container hitting a limit is the cause when the run then also ran out of time.
    reason = _learner_reason(facts, limits.memory_mb) or stop_reason or _output_reason(facts, limits.output_kb)
    tests, test_flags = _grade_tests(assignment, facts, stop_reason)
    flags = (
        _harness_tripwires(facts, limit_hit) + _canary_tripwires(facts, limit_hit) + test_flags + _signal_flags(facts)
    )
    common = {
        "assignment_id": spec.id,
        "assignment_version": spec.version,
        "spec_hash": assignment.spec_hash,
        "mode": facts.mode,
        "commit": facts.commit,
        "max_score": spec.rubric.max_points,
        "tests": tests,
        "flags": flags,
        "output_outside_tests": _outside_output(facts),
    }
    if any(f.tripwire for f in flags):
        codes = ", ".join(sorted({f.code for f in flags if f.tripwire}))
        return Grade(
            **common,
            score=0.0,
            percent=0.0,
            passed=False,
            criteria=zero_criteria(spec.rubric, tests),
            reason=f"integrity check failed ({codes}): the results cannot be trusted",
        )
    criteria, score, percent, passed = score_rubric(spec.rubric, tests)
    if not reason and not passed:
        reason = fail_reason(spec.rubric, criteria, percent)
    return Grade(**common, score=score, percent=percent, passed=passed and not reason, criteria=criteria, reason=reason)
