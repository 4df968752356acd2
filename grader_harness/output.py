"""The test process's output as the harness keeps it: capped, counted, scanned for the protocol's prefix,
and split by test."""

from __future__ import annotations

from typing import Any

from grader_harness.protocol import (
    ATTRIBUTED_BUDGET,
    EVENT_PREFIX_BYTES,
    OUTSIDE_LIMIT,
    SLICE_LIMIT,
    OutputEvent,
)

CONTROL = {c: "?" for c in range(32) if c not in (9, 10)} | {127: "?"}


def printable(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "replace").translate(CONTROL)


def safe_text(value: Any) -> Any:
    """`value` with every string in it encodable as UTF-8. Learner failure messages and file names can
    carry lone surrogates ("\\ud800"), which would otherwise crash the harness mid-run and void an honest
    grade; each unencodable character becomes "?"."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {safe_text(k): safe_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_text(v) for v in value]
    return value


class Segment:
    """What was printed between two boundaries: the first `cap` bytes (as the budget allows), and a count."""

    def __init__(self, cap: int, suite: str | None = None, test_id: str | None = None, before_hidden: bool = False):
        self.cap = cap
        self.suite = suite
        self.test_id = test_id
        self.before_hidden = before_hidden
        self.kept = bytearray()
        self.total = 0

    def text(self) -> str:
        text = printable(self.kept)
        cut = self.total - len(self.kept)
        if not cut:
            return text
        return text + ("" if not text or text.endswith("\n") else "\n") + f"[… {cut} bytes cut]"


class AttributedOutput:
    """The child's output split at the test boundaries the child marks: one slice per test, and what was
    printed outside any test (collection, imports, between tests).

    A slice is `before_hidden` when all of it was printed before any test outside the visible suite
    began: only such a slice can be shown to a learner who may not see the hidden tests' output (code
    that ran under a hidden test could print that test's inputs later, in a visible test). It is also
    not before_hidden when the harness cannot tell that every byte of it was written inside the test
    (`ordered`, see relay.Relay.boundary), so a child that does not wait at its boundaries, or a writer
    that keeps the pipe full, can only lose its output from the learner's view, never move hidden output
    into a visible test's."""

    def __init__(self, budget: int):
        self.left = budget
        self.outside = Segment(OUTSIDE_LIMIT)
        self.current = self.outside
        self.hidden_began = False

    def add(self, chunk: bytes) -> None:
        segment = self.current
        segment.total += len(chunk)
        room = min(segment.cap - len(segment.kept), self.left, len(chunk))
        if room > 0:
            segment.kept.extend(chunk[:room])
            self.left -= room

    def begin(self, suite: str, test_id: str, ordered: bool) -> None:
        if suite != "visible":
            self.hidden_began = True
        self.current = Segment(SLICE_LIMIT, suite, test_id, before_hidden=ordered and not self.hidden_began)

    def end(self, suite: str, test_id: str, ordered: bool) -> OutputEvent | None:
        """The output event of the test now ending, or None (nothing printed, or no matching begin)."""
        segment, self.current = self.current, self.outside
        if segment is self.outside or (segment.suite, segment.test_id) != (suite, test_id) or not segment.total:
            return None
        event: OutputEvent = {"event": "output", "suite": suite, "id": test_id, "output": segment.text(),
                "output_bytes": segment.total, "before_hidden": segment.before_hidden and ordered}
        return event


class OutputCapture:
    """Keeps at most `limit` bytes of the child's output and counts protocol prefixes written into it.
    The same bytes are also split by test (`attributed`), from a budget of their own."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.prefixes = 0
        self.tail = b""
        self.attributed = AttributedOutput(min(limit, ATTRIBUTED_BUDGET))

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept.extend(chunk[:room])
        window = self.tail + chunk
        self.prefixes += window.count(EVENT_PREFIX_BYTES)
        self.tail = chunk[-(len(EVENT_PREFIX_BYTES) - 1):]
        self.attributed.add(chunk)


class MessageBudget:
    """Failure messages are capped in total too, so the stream to the worker stays within its read cap
    however many (parametrized) tests there are."""

    def __init__(self, total: int):
        self.left = total

    def trim(self, event: dict[str, Any]) -> dict[str, Any]:
        message = event.get("message")
        if isinstance(message, str) and message:
            keep = max(0, min(len(message), self.left))
            event["message"] = message[-keep:] if keep else "(message omitted: the run's message budget is spent)"
            self.left -= keep
        return event
