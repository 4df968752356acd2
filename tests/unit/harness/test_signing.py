"""Event signing without Docker: the child's sender and the harness's verifier, round trip and tampering."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import pytest

from grader_harness.signing import EventVerifier, make_sender, sign

KEY = bytes(range(32))


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):
            os.close(fd)


def lines(read: int) -> list[bytes]:
    os.set_blocking(read, False)
    data = b""
    while True:
        try:
            chunk = os.read(read, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data.splitlines()


def phase(test_id: str, when: str, outcome: str = "passed", message: str = "") -> dict[str, object]:
    return {"event": "phase", "suite": "visible", "id": test_id, "when": when, "outcome": outcome,
            "duration": 0.25, "message": message}


def test_round_trip_adds_phases_into_one_result(pipe: tuple[int, int]) -> None:
    send = make_sender(pipe[1], KEY)
    assert [send(phase("t.py::a", when)) for when in ("setup", "call", "teardown")] == [1, 2, 3]
    verifier = EventVerifier(KEY)
    events = [verifier.check(line) for line in lines(pipe[0])]
    assert events[:2] == [None, None]  # setup and call are added up, not relayed
    assert events[2] == {"event": "result", "suite": "visible", "id": "t.py::a", "outcome": "passed",
                         "duration": 0.75, "message": ""}
    assert (verifier.forged, verifier.malformed, verifier.tests) == (0, 0, {})


def test_failures_by_phase() -> None:
    verifier = EventVerifier(KEY)
    seq = 0

    def signed(event: dict[str, object]) -> bytes:
        nonlocal seq
        seq += 1
        body = json.dumps({**event, "seq": seq}).encode()
        return sign(KEY, body) + b" " + body

    for test_id, failing in (("t.py::setup", "setup"), ("t.py::call", "call"), ("t.py::down", "teardown")):
        result = None
        for when in ("setup", "call", "teardown"):
            result = verifier.check(signed(phase(test_id, when, "failed" if when == failing else "passed", "boom")))
        assert result is not None
        assert result["outcome"] == ("failed" if failing == "call" else "error"), test_id
        assert result["message"] == "boom"


def test_the_sender_escapes_and_survives_odd_values(pipe: tuple[int, int]) -> None:
    send = make_sender(pipe[1], KEY)
    send({"event": "notice", "code": "x", "detail": "\ud800 \n \"quoted\"", "n": float("nan"), "list": [1, None, True]})
    (line,) = lines(pipe[0])
    mac, _, body = line.partition(b" ")
    assert mac == sign(KEY, body) and body.isascii()
    event = json.loads(body)
    assert event["n"] == 0.0 and event["list"] == [1, None, True] and event["seq"] == 1


@pytest.mark.parametrize("tamper", ["body", "mac", "key", "unsigned"])
def test_tampered_lines_are_forged(pipe: tuple[int, int], tamper: str) -> None:
    make_sender(pipe[1], KEY)({"event": "finish", "exit_status": 0})
    (line,) = lines(pipe[0])
    mac, _, body = line.partition(b" ")
    if tamper == "body":
        line = mac + b" " + body.replace(b'"exit_status":0', b'"exit_status":1')
    elif tamper == "mac":
        line = b"0" * len(mac) + b" " + body
    elif tamper == "key":
        line = sign(b"\x00" * 32, body) + b" " + body
    else:
        line = body
    verifier = EventVerifier(KEY)
    assert verifier.check(line) is None
    assert verifier.forged == 1 and not verifier.finished


def test_replayed_and_reordered_lines_are_forged(pipe: tuple[int, int]) -> None:
    send = make_sender(pipe[1], KEY)
    send({"event": "notice", "code": "a", "detail": ""})
    send({"event": "notice", "code": "b", "detail": ""})
    first, second = lines(pipe[0])
    verifier = EventVerifier(KEY)
    assert verifier.check(second) is None  # out of order
    assert verifier.check(first) is not None
    assert verifier.check(first) is None  # replayed
    assert verifier.check(second) is not None
    assert verifier.forged == 2 and verifier.seq == 2


def test_genuine_but_unknown_or_late_events_are_not_relayed(pipe: tuple[int, int]) -> None:
    send = make_sender(pipe[1], KEY)
    send({"event": "result", "suite": "visible", "id": "t.py::a", "outcome": "passed"})  # only the harness adds up
    send({"event": "begin", "suite": 1, "id": "x"})
    send({"event": "finish", "exit_status": 0})
    send({"event": "tamper", "code": "late", "detail": ""})
    verifier = EventVerifier(KEY)
    results = [verifier.check(line) for line in lines(pipe[0])]
    assert results[:2] == [None, None] and verifier.malformed == 2
    assert results[2] == {"event": "finish", "exit_status": 0} and verifier.finished
    assert results[3] is None and verifier.after_finish == 1


def test_malformed_phases_are_counted() -> None:
    verifier = EventVerifier(KEY)
    body = json.dumps({**phase("t.py::a", "lunch"), "seq": 1}).encode()
    assert verifier.check(sign(KEY, body) + b" " + body) is None
    assert verifier.malformed == 1
