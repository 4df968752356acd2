"""Test boundaries: each test's beginning and end is marked to the harness, which waits for the harness's
acknowledgement, so the harness can split the output it captures by test."""

from __future__ import annotations

import posix
import select
import time
from collections.abc import Callable, Generator, Iterable
from typing import IO, Any

import pytest

from grader_harness.protocol import BEGIN, TEST_END
from grader_harness.signing import Sender

# How long a test boundary waits for the harness's acknowledgement (normally well under a millisecond).
ACK_TIMEOUT_S = 5.0

Marker = Callable[[dict[str, Any]], None]
Locate = Callable[[str], "tuple[str, str]"]


def make_marker(send: Sender, ack_fd: int, streams: Iterable[IO[str]]) -> Marker:
    """A function that sends a boundary event once everything printed so far is in the output pipe, and
    returns when the harness has acknowledged it (or ACK_TIMEOUT_S passed): output printed after it
    returns cannot be counted before the boundary. Acknowledgements are lines of sequence numbers.

    Learner code in this process could read or forge acknowledgements; that only lets this process run
    ahead of the harness, which the harness detects (see relay.Relay): the slice then open is never
    counted as printed before the hidden tests."""
    wait, read, clock, pending = select.select, posix.read, time.monotonic, [b""]
    streams = tuple(streams)

    def acknowledged(seq: int) -> bool:
        *lines, pending[0] = pending[0].split(b"\n")
        return any(line.isdigit() and int(line) >= seq for line in lines)

    def mark(event: dict[str, Any]) -> None:
        for stream in streams:
            try:
                stream.flush()
            except Exception:
                pass
        seq = send(event)
        deadline = clock() + ACK_TIMEOUT_S
        while not acknowledged(seq):
            left = deadline - clock()
            try:
                if left <= 0 or not wait([ack_fd], [], [], left)[0]:
                    return
                chunk = read(ack_fd, 4096)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            pending[0] = pending[0][-64:] + chunk

    return mark



class Boundaries:
    """Outermost around each test (outside the per-test time limit, so the wait for the harness is never
    interrupted): marks its beginning and its end, so the harness attributes what was printed in
    between to it."""

    def __init__(self, locate: Locate, mark: Marker):
        self.locate = locate
        self.mark = mark

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
        suite, test_id = self.locate(item.nodeid)
        self.mark({"event": BEGIN, "suite": suite, "id": test_id})
        try:
            yield
        finally:
            self.mark({"event": TEST_END, "suite": suite, "id": test_id})

