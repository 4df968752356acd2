"""The protocol is defined once: the worker's parser and the sandbox use the harness package's constants,
and the events the parser models carry the fields the protocol names."""

from __future__ import annotations

import json
from typing import get_type_hints

from grader.core import run_report
from grader.sandbox import bridge_relay, containers, isolated_mode
from grader_harness import protocol


def test_the_worker_uses_the_protocols_constants() -> None:
    assert run_report.PREFIX == protocol.EVENT_PREFIX_BYTES == b"@@grader:"
    assert bridge_relay.BRIDGE == protocol.BRIDGE_PREFIX_BYTES and bridge_relay.CONTROL == protocol.CONTROL_PREFIX_BYTES
    assert containers.TESTS_ROOT == protocol.TESTS_ROOT and containers.SUBMISSION_DIR == protocol.SUBMISSION_DIR
    assert isolated_mode.AGENT == [protocol.VENV_PYTHON, "-I", "/opt/grader/agent.py"]
    assert set(protocol.RESULT_OUTCOMES) == run_report.OUTCOMES


def test_the_parsers_models_match_the_protocols_events() -> None:
    pairs = [
        (protocol.ResultEvent, run_report.ReportedTest),
        (protocol.OutputEvent, run_report.TestOutput),
        (protocol.CollectErrorEvent, run_report.CollectError),
        (protocol.SignalEvent, run_report.Signal),
        (protocol.ServiceEvent, run_report.ServiceReadiness),
        (protocol.EndEvent, run_report.HarnessEnd),
    ]
    for event, model in pairs:
        fields = set(get_type_hints(event)) - {"event"}
        assert fields == set(model.model_fields), (event.__name__, fields ^ set(model.model_fields))


def test_every_event_parses() -> None:
    token = "tok"
    events = [
        {"event": protocol.START, "harness": protocol.HARNESS_VERSION},
        {"event": protocol.RESULT, "suite": "visible", "id": "t.py::a", "outcome": "passed", "duration": 0.1,
         "message": ""},
        {"event": protocol.OUTPUT, "suite": "visible", "id": "t.py::a", "output": "hi\n", "output_bytes": 3,
         "before_hidden": True},
        {"event": protocol.COLLECT_ERROR, "suite": "hidden", "file": "t.py", "message": "boom"},
        {"event": protocol.TAMPER, "code": "always-equal", "detail": "x"},
        {"event": protocol.NOTICE, "code": "network-attempt", "detail": "y"},
        {"event": protocol.FINISH, "exit_status": 0},
        {"event": protocol.END, "timed_out": False, "child_finished": True, "child_exit": 0, "duration": 1.0},
    ]
    stream = b"".join(protocol.EVENT_PREFIX_BYTES + token.encode() + b":" + json.dumps(e).encode() + b"\n"
                      for e in events)
    report = run_report.parse_harness_stream(stream, token)
    assert report.started and report.finish_status == 0 and report.end is not None
    assert len(report.results) == len(report.outputs) == len(report.collect_errors) == 1
    assert report.malformed_lines == report.forged_lines == 0
    assert set(protocol.WORKER_EVENTS) >= {e["event"] for e in events}
