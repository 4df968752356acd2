"""Event signing: the test process signs every event it sends (HMAC-SHA256 over a sequence-numbered
body, with a per-run key it reads from a pipe before any learner code runs); the harness verifies each
line of the result pipe and adds a test's phases up into its result, out of the learner's reach.

A line written into the result pipe by learner code, or by a process it left behind, lacks a valid
signature or comes out of sequence: it is counted as forged, never relayed.
"""

from __future__ import annotations

import hmac
import json
import posix
from _hashlib import hmac_digest
from _thread import allocate_lock
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from grader_harness.protocol import (
    BOUNDARIES,
    FINISH,
    PHASE,
    PHASE_OUTCOMES,
    PHASES,
    RELAYED,
    RESULT,
)

Sender = Callable[[dict[str, Any]], int]


def sign(key: bytes, body: bytes) -> bytes:
    """The signature of one body, as it leads its line: lowercase hex, ASCII."""
    return hmac.new(key, body, "sha256").hexdigest().encode()


def make_sender(fd: int, key: bytes) -> Sender:
    """A function that signs and writes one event; everything it calls is bound now (learner code that
    later replaces json, hmac or os functions changes nothing here)."""
    write, digest, quote, lock = posix.write, hmac_digest, encode_basestring_ascii, allocate_lock()
    str_type, int_type, float_type, bool_type, dict_type, list_type = str, int, float, bool, dict, list
    int_repr, float_repr, join, encode = int.__repr__, float.__repr__, str.join, str.encode
    state = [0]

    def dump(value: Any) -> str:
        kind = type(value)
        if value is None:
            return "null"
        if kind is bool_type:
            return "true" if value else "false"
        if kind is str_type:
            return quote(value)
        if kind is int_type:
            return int_repr(value)
        if kind is float_type:
            return float_repr(value) if value == value and abs(value) < 1e300 else "0.0"
        if kind is dict_type:
            return "{" + join(",", [quote(str_type(k)) + ":" + dump(v) for k, v in value.items()]) + "}"
        if kind is list_type:
            return "[" + join(",", [dump(v) for v in value]) + "]"
        return quote(str_type(value))

    def send(event: dict[str, Any]) -> int:
        """Sign and write `event`; returns its sequence number."""
        with lock:
            state[0] += 1
            body = encode(dump(dict_type(event, seq=state[0])), "utf-8", "replace")
            data = memoryview(encode(digest(key, body, "sha256").hex(), "ascii") + b" " + body + b"\n")
            while data:
                data = data[write(fd, data):]
            return state[0]

    return send


class TestState:
    """A test's phases so far."""

    __test__ = False  # not a pytest test class, despite the name
    __slots__ = ("duration", "message", "outcome")

    def __init__(self) -> None:
        self.outcome = "passed"
        self.duration = 0.0
        self.message = ""


class EventVerifier:
    """Checks each line of the result pipe: `<hmac hex> <json>`, sequence numbers 1, 2, 3, ..."""

    def __init__(self, key: bytes):
        self.key = key
        self.seq = 0
        self.forged = 0
        self.malformed = 0
        self.after_finish = 0
        self.finished = False
        self.tests: dict[tuple[str, str], TestState] = {}

    def check(self, line: bytes) -> dict[str, Any] | None:
        """The event to relay, or None when the line is not a genuine, well-formed next event."""
        mac, _, body = line.partition(b" ")
        if not hmac.compare_digest(mac, sign(self.key, body)):
            self.forged += 1
            return None
        try:
            event = json.loads(body)
        except ValueError:
            self.malformed += 1
            return None
        if not isinstance(event, dict) or event.pop("seq", None) != self.seq + 1:
            self.forged += 1  # a replayed or reordered line, or one from a forked copy of the child
            return None
        self.seq += 1
        if self.finished:
            self.after_finish += 1
            return None
        if event.get("event") == PHASE:
            return self.add_phase(event)
        if event.get("event") in BOUNDARIES:
            return self.boundary(event)
        if event.get("event") not in RELAYED:
            self.malformed += 1
            return None
        if event["event"] == FINISH:
            self.finished = True
        return event

    def boundary(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if not (isinstance(event.get("suite"), str) and isinstance(event.get("id"), str)):
            self.malformed += 1
            return None
        return {"event": event["event"], "suite": event["suite"], "id": event["id"]}

    def add_phase(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Setup, call and teardown of one test add up to its result, here, out of the learner's reach."""
        suite, test_id, when, outcome = event.get("suite"), event.get("id"), event.get("when"), event.get("outcome")
        duration, message = event.get("duration"), event.get("message")
        if not (isinstance(suite, str) and isinstance(test_id, str) and when in PHASES and outcome in PHASE_OUTCOMES
                and isinstance(duration, (int, float)) and isinstance(message, str)):
            self.malformed += 1
            return None
        state = self.tests.setdefault((suite, test_id), TestState())
        state.duration += max(float(duration), 0.0)
        if outcome == "failed":
            state.outcome = "failed" if when == "call" else "error"
            state.message = message
        elif outcome == "skipped" and state.outcome == "passed":
            state.outcome, state.message = "skipped", message
        if when != "teardown":
            return None
        del self.tests[(suite, test_id)]
        return {"event": RESULT, "suite": suite, "id": test_id, "outcome": state.outcome,
                "duration": round(state.duration, 4), "message": state.message}
