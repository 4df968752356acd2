"""The run report: what the harness said over the captured stream, parsed strictly.

Only lines `@@grader:<token>:<json>` with this run's token count. A line with the prefix and another
token is a forgery attempt; anything else on the stream is ignored. Pure: no Docker here.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from grader.core.grade import Outcome
from grader_harness import protocol

PREFIX = protocol.EVENT_PREFIX_BYTES
OUTCOMES = set(protocol.RESULT_OUTCOMES)


class ReportedTest(BaseModel):
    suite: str
    id: str
    outcome: Outcome
    duration: float = Field(default=0.0, ge=0)
    message: str = ""


class TestOutput(BaseModel):
    """What was printed during one test (setup to teardown), as the harness split its capped capture.

    Data only: it never changes a result. `before_hidden` says the harness saw all of it printed before
    any test outside the visible suite began (see grader_harness/output.py AttributedOutput)."""

    __test__ = False  # not a pytest test class, despite the name

    suite: str
    id: str
    output: str = ""  # at most 4 KiB of it, then "[… N bytes cut]"
    output_bytes: int = Field(default=0, ge=0)
    before_hidden: bool = False


class CollectError(BaseModel):
    suite: str
    file: str
    message: str = ""


class Signal(BaseModel):
    """A tamper event (tripwire) or a notice the harness's child reported."""

    code: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    detail: str = ""


class ServiceReadiness(BaseModel):
    """Service mode: whether the learner's service answered its readiness probe (seen from the tester)."""

    ready: bool
    waited_s: float = 0.0
    detail: str = ""


class HarnessEnd(BaseModel):
    timed_out: bool
    child_finished: bool
    child_exit: int | None
    malformed_events: int = 0
    forged_events: int = 0  # lines in the result pipe without a valid signature or in the wrong sequence
    events_after_finish: int = 0
    protocol_in_output: int = 0  # the protocol prefix printed by learner code
    leftover_processes: int = 0
    output: str = ""  # everything printed, tests included, up to the output limit (author evidence)
    output_bytes: int = 0
    output_truncated: bool = False
    # What was printed outside any test (collection, imports), when the harness split its output by test;
    # None from a harness that did not.
    outside_output: str | None = None
    outside_output_bytes: int = 0
    running: list[list[str]] = []  # [[suite, id]] of the test running when the run stopped, if any
    duration: float = 0.0


class ContainerRun(BaseModel):
    """What the worker observed of one container, independent of what ran inside it."""

    name: str
    runtime: str
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    output: bytes
    output_bytes: int
    output_truncated: bool
    duration: float


class RunReport(BaseModel):
    started: bool = False
    results: list[ReportedTest] = []
    outputs: list[TestOutput] = []  # one per test that printed anything, in the order they ran (see judge)
    collect_errors: list[CollectError] = []
    finish_status: int | None = None
    end: HarnessEnd | None = None
    crash: str = ""
    forged_lines: int = 0
    malformed_lines: int = 0
    duplicate_results: list[str] = []
    tampers: list[Signal] = []
    notices: list[Signal] = []
    service: ServiceReadiness | None = None


def _apply(report: RunReport, event: dict[str, Any], seen: set[tuple[str, str]]) -> None:
    kind = event.get("event")
    if kind == protocol.START:
        report.started = True
    elif kind == protocol.OUTPUT:
        report.outputs.append(TestOutput.model_validate(event))
    elif kind == protocol.RESULT:
        test = ReportedTest.model_validate(event)
        if test.outcome.value not in OUTCOMES:
            raise ValueError(f"outcome {test.outcome} is not reportable")
        key = (test.suite, test.id)
        if key in seen:
            report.duplicate_results.append(f"{test.suite}:{test.id}")
            return
        seen.add(key)
        report.results.append(test)
    elif kind == protocol.COLLECT_ERROR:
        report.collect_errors.append(CollectError.model_validate(event))
    elif kind == protocol.FINISH:
        status = event.get("exit_status")
        if report.finish_status is not None or not isinstance(status, int):
            raise ValueError("finish reported twice or without a status")
        report.finish_status = status
    elif kind == protocol.END:
        if report.end is not None:
            raise ValueError("end reported twice")
        report.end = HarnessEnd.model_validate(event)
    elif kind == protocol.TAMPER:
        report.tampers.append(Signal.model_validate(event))
    elif kind == protocol.NOTICE:
        report.notices.append(Signal.model_validate(event))
    elif kind == protocol.SERVICE:
        if report.service is not None:
            raise ValueError("service readiness reported twice")
        report.service = ServiceReadiness.model_validate(event)
    elif kind == protocol.CRASH:
        report.crash = str(event.get("traceback", ""))[-4000:]
    else:
        raise ValueError(f"unknown event {kind!r}")


def parse_harness_stream(stream: bytes, token: str) -> RunReport:
    report = RunReport()
    own_prefix = PREFIX + token.encode() + b":"
    seen: set[tuple[str, str]] = set()
    for line in stream.splitlines():
        if not line.startswith(PREFIX):
            continue
        if not line.startswith(own_prefix):
            report.forged_lines += 1
            continue
        try:
            event = json.loads(line[len(own_prefix) :])
            if not isinstance(event, dict):
                raise ValueError("event is not an object")
            if report.end is not None:
                raise ValueError("event after end")
            _apply(report, event, seen)
        except (ValueError, ValidationError):
            report.malformed_lines += 1
    return report
