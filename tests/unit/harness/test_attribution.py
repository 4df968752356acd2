"""The harness's split of the captured output by test (grader_harness.relay.Relay, output.AttributedOutput),
driven through real pipes as the child would write them: each test gets what was printed between its
boundaries, capped; a test that began after a hidden one, or whose slice the harness cannot tell apart from
later output (a child that ran ahead of its acknowledgements), is never marked `before_hidden`."""

from __future__ import annotations

import hmac
import json
import os
import selectors
from collections.abc import Iterator
from typing import Any

import pytest

from grader_harness.output import OutputCapture
from grader_harness.protocol import SLICE_LIMIT
from grader_harness.relay import Relay
from grader_harness.signing import EventVerifier

KEY = b"k" * 32


class FakeChild:
    """What Relay reads of the child process: its output pipe."""

    def __init__(self, output_fd: int) -> None:
        self.stdout = self
        self.output_fd = output_fd

    def fileno(self) -> int:
        return self.output_fd

    def poll(self) -> None:
        return None


class Emitted:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Child:
    """The child's ends of the pipes: it prints, and sends signed, numbered events."""

    def __init__(self) -> None:
        self.output_read, self.output = os.pipe()
        self.results_read, self.results = os.pipe()
        self.ack_read, self.ack_write = os.pipe()
        os.set_blocking(self.ack_read, False)
        self.seq = 0
        self.emitted = Emitted()
        self.relay = Relay(
            FakeChild(self.output_read), self.results_read, self.emitted, EventVerifier(KEY),
            OutputCapture(256 * 1024), ack_fd=self.ack_write,
        )
        for fd, kind in ((self.output_read, "output"), (self.results_read, "results")):
            self.relay.selector.register(fd, selectors.EVENT_READ, kind)

    def print(self, text: str) -> None:
        os.write(self.output, text.encode())

    def send(self, event: dict[str, Any]) -> None:
        self.seq += 1
        body = json.dumps(dict(event, seq=self.seq)).encode()
        os.write(self.results, hmac.new(KEY, body, "sha256").hexdigest().encode() + b" " + body + b"\n")

    def test(self, suite: str, test_id: str, printed: str) -> None:
        """A whole test without waiting for the harness in between (the harness reads it later)."""
        self.send({"event": "begin", "suite": suite, "id": test_id})
        self.print(printed)
        for when in ("setup", "call", "teardown"):
            self.send({"event": "phase", "suite": suite, "id": test_id, "when": when, "outcome": "passed",
                       "duration": 0.0, "message": ""})
        self.send({"event": "end", "suite": suite, "id": test_id})

    def harness_reads(self) -> None:
        """The harness's round: the result pipe first (the order that needs the boundary's drain)."""
        self.relay.read_results()
        self.relay.read_output()

    def outputs(self) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in self.emitted.events if e["event"] == "output"}

    def acks(self) -> list[int]:
        try:
            return [int(line) for line in os.read(self.ack_read, 4096).split()]
        except BlockingIOError:
            return []

    def close(self) -> None:
        for fd in (self.output_read, self.output, self.results_read, self.results, self.ack_read, self.ack_write):
            os.close(fd)


@pytest.fixture
def child() -> Iterator[Child]:
    made = Child()
    yield made
    made.close()


def in_step(child: Child, suite: str, test_id: str, printed: str) -> None:
    """A test whose boundaries each wait for the harness, as child.make_marker does."""
    child.send({"event": "begin", "suite": suite, "id": test_id})
    child.harness_reads()
    child.print(printed)
    for when in ("setup", "call", "teardown"):
        child.send({"event": "phase", "suite": suite, "id": test_id, "when": when, "outcome": "passed",
                    "duration": 0.0, "message": ""})
    child.send({"event": "end", "suite": suite, "id": test_id})
    child.harness_reads()


def test_each_test_gets_what_it_printed_and_the_rest_is_outside(child: Child) -> None:
    child.print("imported\n")
    in_step(child, "visible", "test_v.py::test_a", "from a\n")
    child.print("between\n")
    in_step(child, "hidden", "test_h.py::test_h", "from h\n")
    in_step(child, "visible", "test_v.py::test_late", "late\n")
    outputs = child.outputs()
    assert outputs["test_v.py::test_a"]["output"] == "from a\n" and outputs["test_v.py::test_a"]["before_hidden"]
    assert outputs["test_h.py::test_h"]["output"] == "from h\n" and not outputs["test_h.py::test_h"]["before_hidden"]
    # Code that ran under the hidden test could print its inputs in a later visible one.
    assert not outputs["test_v.py::test_late"]["before_hidden"]
    assert child.relay.capture.attributed.outside.text() == "imported\nbetween\n"
    assert bytes(child.relay.capture.kept) == b"imported\nfrom a\nbetween\nfrom h\nlate\n"  # the whole stream, as ever
    assert child.acks() == [1, 5, 6, 10, 11, 15]  # every boundary released, in order
    assert [e["event"] for e in child.emitted.events].count("result") == 3


def test_a_slice_is_capped_and_says_how_much_was_cut(child: Child) -> None:
    in_step(child, "visible", "test_v.py::test_loud", "x" * (SLICE_LIMIT + 100))
    event = child.outputs()["test_v.py::test_loud"]
    assert event["output"] == "x" * SLICE_LIMIT + "\n[… 100 bytes cut]"
    assert event["output_bytes"] == SLICE_LIMIT + 100


def test_control_characters_and_invalid_bytes_are_made_printable(child: Child) -> None:
    child.send({"event": "begin", "suite": "visible", "id": "test_v.py::test_a"})
    child.harness_reads()
    os.write(child.output, b"bell\x07 and \xff\n")
    child.send({"event": "end", "suite": "visible", "id": "test_v.py::test_a"})
    child.harness_reads()
    assert child.outputs()["test_v.py::test_a"]["output"] == "bell? and \ufffd\n"


def test_a_child_that_runs_ahead_never_lends_a_visible_test_a_later_one_s_output(child: Child) -> None:
    """Forged or skipped acknowledgements: the hidden test's output is in the pipe when the harness ends the
    visible test, and the hidden test's begin already waits behind it. The slice is not before_hidden."""
    child.send({"event": "begin", "suite": "visible", "id": "test_v.py::test_a"})
    child.harness_reads()
    child.print("from a\n")
    for when in ("setup", "call", "teardown"):
        child.send({"event": "phase", "suite": "visible", "id": "test_v.py::test_a", "when": when,
                    "outcome": "passed", "duration": 0.0, "message": ""})
    child.send({"event": "end", "suite": "visible", "id": "test_v.py::test_a"})
    child.test("hidden", "test_h.py::test_h", "hidden inputs\n")
    child.harness_reads()
    event = child.outputs()["test_v.py::test_a"]
    assert "hidden inputs" in event["output"] and event["before_hidden"] is False


def test_a_whole_run_read_at_once_marks_nothing_before_hidden(child: Child) -> None:
    child.test("visible", "test_v.py::test_a", "a\n")
    child.test("visible", "test_v.py::test_b", "b\n")
    child.harness_reads()
    assert not any(e["before_hidden"] for e in child.outputs().values())


def test_unsigned_boundaries_are_forgeries_and_move_nothing(child: Child) -> None:
    in_step(child, "visible", "test_v.py::test_a", "")
    os.write(child.results, b"0" * 64 + b' {"event":"begin","suite":"visible","id":"test_v.py::test_a","seq":6}\n')
    child.print("after the forged line\n")
    child.harness_reads()
    assert child.relay.verifier.forged == 1
    assert child.relay.capture.attributed.current is child.relay.capture.attributed.outside
    assert child.outputs() == {}
