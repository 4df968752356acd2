"""The harness's side of the pipes: events out to the worker (Emitter), the test process's output and
result pipe in (Relay), and the bridge between the worker's relay and the test process (BridgeChannel)."""

from __future__ import annotations

import json
import os
import select
import selectors
import subprocess
import time
from typing import IO, Any

from grader_harness.output import MessageBudget, OutputCapture, safe_text
from grader_harness.protocol import (
    BEGIN,
    BOUNDARIES,
    BRIDGE_CONTROL,
    BRIDGE_LEARNER,
    BRIDGE_PREFIX,
    CONTROL_PREFIX,
    EVENT_PREFIX,
    MAX_BRIDGE_LINE,
    MAX_EVENT_BYTES,
    MESSAGE_BUDGET,
)
from grader_harness.signing import EventVerifier

# After pytest exits, how long buffered events may take to arrive before leftovers are killed.
DRAIN_S = 1.0
# At a boundary the output pipe is read until empty: at most this many reads (a pipe holds at most 1 MiB
# unless raised; a writer that keeps it full has its slices marked unordered instead).
DRAIN_READS = 64


class Emitter:
    """The only writer of the container's stdout: one line per event, `@@grader:<token>:<json>`."""

    def __init__(self, token: str, out: IO[str] | None = None):
        self.token = token
        # errors="replace": a last guard, should any string reach the stream unsanitized.
        self.out = out if out is not None else os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8",
                                                         errors="replace")

    def raw(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def emit(self, event: Any) -> None:
        # Raw UTF-8 rather than \u escapes: the learner's captured output then grows at most 3-fold on
        # the way out (control characters are replaced first), which the worker's read cap allows for.
        body = json.dumps(safe_text(event), separators=(",", ":"), ensure_ascii=False)
        self.out.write(EVENT_PREFIX + self.token + ":" + body + "\n")
        self.out.flush()


class BridgeChannel:
    """Isolated unit mode: the child's bridge pipes on one side, the worker's relay on the other.

    From the worker (stdin): "L <frame>" lines from the learner's container and "C <json>" control
    lines, passed to the child as they are. From the child: "L <frame>" becomes a `@@bridge:` line on
    stdout (the worker sends it to the learner) and "C <json>" a `@@bctl:` line (a restart request).
    Nothing here parses a frame; the child's bridge client does. Writes to the child never block the
    harness: what the child has not read yet waits here, up to a cap (a learner flooding the channel
    loses its own frames, never the harness's events).
    """

    KINDS = ("bridge-in", "bridge-child", "bridge-to-child")
    MAX_LINE = MAX_BRIDGE_LINE
    MAX_QUEUED = 32 * 1024 * 1024
    PREFIXES = {BRIDGE_LEARNER: BRIDGE_PREFIX, BRIDGE_CONTROL: CONTROL_PREFIX}

    def __init__(self, stdin_fd: int, initial: bytes, emitter: Emitter):
        self.stdin_fd = stdin_fd
        self.emitter = emitter
        self.child_read, self.to_child = os.pipe()
        self.from_child, self.child_write = os.pipe()
        os.set_blocking(self.to_child, False)
        self.queued = bytearray(initial)
        self.from_child_pending = b""
        self.dropped = 0

    def child_started(self) -> None:
        os.close(self.child_read)
        os.close(self.child_write)

    def register(self, selector: selectors.BaseSelector) -> None:
        selector.register(self.stdin_fd, selectors.EVENT_READ, "bridge-in")
        selector.register(self.from_child, selectors.EVENT_READ, "bridge-child")
        self._want_write(selector)

    def _want_write(self, selector: selectors.BaseSelector) -> None:
        registered = self.to_child in selector.get_map()
        if self.queued and not registered:
            selector.register(self.to_child, selectors.EVENT_WRITE, "bridge-to-child")
        elif not self.queued and registered:
            selector.unregister(self.to_child)

    def on_ready(self, selector: selectors.BaseSelector, key: selectors.SelectorKey, mask: int) -> None:
        if key.data == "bridge-to-child":
            try:
                written = os.write(self.to_child, self.queued[:65536])
                del self.queued[:written]
            except BlockingIOError:
                pass
            except OSError:  # the child is gone
                self.queued.clear()
        elif key.data == "bridge-in":
            chunk = os.read(self.stdin_fd, 65536)
            if not chunk:
                selector.unregister(self.stdin_fd)
            elif len(self.queued) + len(chunk) > self.MAX_QUEUED:
                self.dropped += len(chunk)
            else:
                self.queued.extend(chunk)
        else:
            chunk = os.read(self.from_child, 65536)
            if not chunk:
                selector.unregister(self.from_child)
            self.from_child_pending += chunk
            while b"\n" in self.from_child_pending:
                line, self.from_child_pending = self.from_child_pending.split(b"\n", 1)
                self.forward(line)
            if len(self.from_child_pending) > self.MAX_LINE:
                self.from_child_pending = b""
        self._want_write(selector)

    def forward(self, line: bytes) -> None:
        text = line.decode("ascii", "replace")
        kind, _, body = text.partition(" ")
        prefix = self.PREFIXES.get(kind)
        if prefix is not None:
            self.emitter.raw(prefix + self.emitter.token + ":" + body)


class Relay:
    """Forwards verified events, captures capped output, enforces the deadline, and attributes output to
    the test during which it was printed.

    At each boundary the child flushes its output, sends the signed boundary event and waits for this
    harness's acknowledgement. So when a boundary is read here, everything the child printed before it
    is already in the output pipe: the pipe is drained into the segment that is ending, then the next
    one begins, then the child is released. A boundary is `ordered` when, after that drain, nothing
    else was waiting on the result pipe: the child did not run ahead (a later boundary would be there
    before any of its output could be), so no byte of a later test sits in the drained segment.
    """

    def __init__(self, child: subprocess.Popen[bytes], results_fd: int, emitter: Emitter, verifier: EventVerifier,
                 capture: OutputCapture, channel: BridgeChannel | None = None, ack_fd: int | None = None):
        self.child = child
        assert child.stdout is not None
        self.output_fd = child.stdout.fileno()
        # A boundary drains the pipe the selector may already have reported ready in the same round: a
        # blocking read would then wait for the child's next output while the child waits for us.
        os.set_blocking(self.output_fd, False)
        self.results_fd = results_fd
        self.emitter = emitter
        self.verifier = verifier
        self.capture = capture
        self.channel = channel
        self.ack_fd = ack_fd
        self.budget = MessageBudget(MESSAGE_BUDGET)
        self.selector = selectors.DefaultSelector()
        self.pending = b""
        self.open_streams = 2

    def run(self, deadline: float) -> bool:
        """Relay until the child is done (or DRAIN_S after it exited). Returns whether it timed out."""
        self.selector.register(self.output_fd, selectors.EVENT_READ, "output")
        self.selector.register(self.results_fd, selectors.EVENT_READ, "results")
        if self.channel is not None:
            self.channel.register(self.selector)
        exited_at = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                return True
            if self.child.poll() is not None:
                exited_at = exited_at or now
                if self.open_streams == 0 or now - exited_at > DRAIN_S:
                    return False
            for key, mask in self.selector.select(timeout=min(deadline - now, 0.25)):
                if key.data in BridgeChannel.KINDS:
                    assert self.channel is not None
                    self.channel.on_ready(self.selector, key, mask)
                elif key.fd not in self.selector.get_map():
                    continue  # the output pipe, closed by a boundary's drain earlier in this round
                elif key.data == "output":
                    self.read_output()
                else:
                    self.read_results()

    def close_stream(self, fd: int) -> None:
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
            self.open_streams -= 1

    def read_output(self) -> int:
        """Read once from the output pipe. Returns how many bytes came (0: nothing there, or its end)."""
        try:
            chunk = os.read(self.output_fd, 65536)
        except BlockingIOError:
            return 0
        if chunk:
            self.capture.add(chunk)
        else:
            self.close_stream(self.output_fd)
        return len(chunk)

    def drain_output(self) -> bool:
        """Read what is already in the output pipe. Returns whether it was emptied."""
        for _ in range(DRAIN_READS):  # noqa: SIM110
            if self.output_fd not in self.selector.get_map() or not self.read_output():
                return True
        return False

    def results_waiting(self) -> bool:
        """Whether anything follows on the result pipe: lines already read, or bytes not yet read."""
        if self.pending:
            return True
        ready, _, _ = select.select([self.results_fd], [], [], 0)
        return bool(ready)

    def read_results(self) -> None:
        chunk = os.read(self.results_fd, 65536)
        if not chunk:
            self.close_stream(self.results_fd)
            return
        self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            if len(line) > MAX_EVENT_BYTES:
                self.verifier.malformed += 1
                continue
            event = self.verifier.check(line)
            if event is not None and event["event"] in BOUNDARIES:
                event = self.boundary(event)
            if event is not None:
                self.emitter.emit(self.budget.trim(event))
        if len(self.pending) > MAX_EVENT_BYTES:
            self.verifier.malformed += 1
            self.pending = b""

    def boundary(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A test begins or ends: finish the segment in progress, start the next, release the child.
        Returns the ending test's output event, if any."""
        ordered = self.drain_output() and not self.results_waiting()
        attributed = self.capture.attributed
        out: dict[str, Any] | None
        if event["event"] == BEGIN:
            attributed.begin(event["suite"], event["id"], ordered)
            out = None
        else:
            ended = attributed.end(event["suite"], event["id"], ordered)
            out = dict(ended) if ended is not None else None
        self.acknowledge(self.verifier.seq)
        return out

    def acknowledge(self, seq: int) -> None:
        # Never blocks: a child that does not read its acknowledgements only waits out its own timeout.
        if self.ack_fd is None:
            return
        try:
            os.write(self.ack_fd, b"%d\n" % seq)
        except OSError:  # full (BlockingIOError) or the child is gone (BrokenPipeError)
            pass
