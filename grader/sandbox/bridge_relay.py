"""The worker's relay between the two containers of isolated unit mode.

    learner container (agent.py)            worker (this module)              tester container (harness)
    stdin  <- frames ----------------------  @@bridge:<token>:<frame>  <----  stdout
    stdout -> frames ---------------------> "L <frame>"  ------------------>  stdin
                                             "C {learner: down|up}" ------->
                                             @@bctl:<token>:{restart}  <----
                                             @@grader:<token>:<event>  <----  (results: kept, parsed later)

Under gVisor here containers have no network at all, so the two sandboxes talk only through their
attached stdio, relayed by the worker. The relay never interprets a learner frame: it counts and caps
the learner's bytes, splits lines, and prefixes each with "L " so nothing the learner writes can pass
for a control line. The tester's results leave over its own stdout to the worker, and only there: the
learner's container has no way to write to it.

The worker owns the learner container's life: it starts it, restarts it when the tester asks (after a
call timed out or the process died, or before each test when the spec asks for isolation per test),
and kills it for flooding. Both containers are removed whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from grader.sandbox.containers import remove_by_name
from grader.sandbox.engine import docker_client
from grader_harness.protocol import BRIDGE_PREFIX_BYTES, CONTROL_PREFIX_BYTES

MAX_LINE = 8 * 1024 * 1024
MAX_RESTARTS = 30
MAX_FLOODS = 3  # learner containers killed for flooding before the learner's side is stopped for the run
BRIDGE = BRIDGE_PREFIX_BYTES
CONTROL = CONTROL_PREFIX_BYTES


class AttachedStream:
    """A created container's stdin and stdout through one attach connection, opened before it starts."""

    def __init__(self, container: Container) -> None:
        self.container = container
        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 0, "stream": 1})
        self.sock: socket.socket = getattr(sock, "_sock", None) or sock  # type: ignore[assignment]
        self._keep = sock  # the SDK's wrapper owns the connection; keep it alive as long as the socket
        self.outgoing: queue.Queue[bytes | None] = queue.Queue()
        self.received = 0  # every byte of stdout, lines or not (a flood without newlines counts too)
        self.over_budget = False
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def _write(self) -> None:
        while True:
            data = self.outgoing.get()
            if data is None:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                return

    def send(self, data: bytes) -> None:
        self.outgoing.put(data)

    def lines(self, limit: int, budget: int | None = None) -> Iterator[bytes]:
        """Lines of the container's stdout (the attach stream's frames reassembled). Ends, with
        `over_budget` set, at a line longer than `limit` or once more than `budget` bytes arrived in all:
        no frame of the protocol is that long, so either is a flood."""
        buffer = b""
        pending = b""
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    yield pending
                return
            self.received += len(chunk)
            if budget is not None and self.received > budget:
                self.over_budget = True
                return
            buffer += chunk
            while len(buffer) >= 8:
                size = int.from_bytes(buffer[4:8], "big")
                if len(buffer) < 8 + size:
                    break
                stream, payload, buffer = buffer[0], buffer[8 : 8 + size], buffer[8 + size :]
                if stream != 1:
                    continue
                pending += payload
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    yield line
                if len(pending) > limit:
                    self.over_budget = True
                    return

    def close(self) -> None:
        self.outgoing.put(None)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class LearnerRecord:
    """What the worker saw of the learner's containers over one run (for the judge)."""

    starts: int = 0
    restarts_asked: int = 0  # after a timeout or a crash
    planned_restarts: int = 0  # isolation per test
    exits: list[int] = field(default_factory=list)
    oom_killed: bool = False
    floods: int = 0  # containers killed for writing past their budget (the test in progress failed)
    flooded: bool = False  # ... so often that the learner's side was stopped for the rest of the run
    output_bytes: int = 0
    refused_restarts: int = 0


@dataclass
class TesterRecord:
    output: bytearray = field(default_factory=bytearray)
    total: int = 0
    overflowed: threading.Event = field(default_factory=threading.Event)


class Relay:
    """Relays frames between one tester container and a succession of learner containers."""

    def __init__(
        self,
        start_learner: Callable[[int], tuple[str, Container]],
        token: str,
        *,
        learner_budget: int,
        tester_limit: int,
    ) -> None:
        self.start_learner = start_learner
        self.bridge_prefix = BRIDGE + token.encode() + b":"
        self.control_prefix = CONTROL + token.encode() + b":"
        self.learner_budget = learner_budget
        self.tester_limit = tester_limit
        self.learner = LearnerRecord()
        self.tester = TesterRecord()
        self.generation = 0
        self.lock = threading.RLock()
        self.learner_name: str | None = None
        self.learner_stream: AttachedStream | None = None
        self.tester_stream: AttachedStream | None = None
        self.dead_reason: str | None = None
        self.names: list[str] = []
        # A fault of the engine while restarting the learner's side: the run's result cannot be
        # trusted to be the learner's, so run_isolated raises it (a system fault, retried).
        self.system_error: Exception | None = None

    # -- the learner's side ------------------------------------------------------------------------
    def launch_learner(self) -> None:
        with self.lock:
            self.generation += 1
            generation = self.generation
            name, container = self.start_learner(generation)
            self.names.append(name)
            stream = AttachedStream(container)
            container.start()
            self.learner_name, self.learner_stream = name, stream
            self.learner.starts += 1
        threading.Thread(target=self._pump_learner, args=(stream, container, generation), daemon=True).start()

    def _pump_learner(self, stream: AttachedStream, container: Container, generation: int) -> None:
        earlier = self.learner.output_bytes  # what the learner's earlier containers sent
        for line in stream.lines(MAX_LINE, budget=self.learner_budget):
            if generation != self.generation:
                return
            self.learner.output_bytes = earlier + stream.received
            self._to_tester(b"L " + line)
        self.learner.output_bytes = earlier + stream.received
        if stream.over_budget:
            self._flooded(generation)
            return
        with self.lock:
            if generation != self.generation:
                return
            self.dead_reason = self.dead_reason or self._why_down(container)
        self._control({"learner": "down", "reason": self.dead_reason, "final": self.learner.flooded})

    def _why_down(self, container: Container) -> str:
        state: dict[str, Any] = {}
        with contextlib.suppress(NotFound, APIError):
            container.wait(timeout=5)
            container.reload()
            state = dict(container.attrs.get("State") or {})
        code = int(state.get("ExitCode", -1))
        self.learner.exits.append(code)
        if state.get("OOMKilled") or code == 137:
            # Only the kernel kills it from outside: our own stops (restart, flood) never get here.
            self.learner.oom_killed = True
            return f"it was killed (exit code {code}: memory or process limit)"
        return f"its process exited with code {code}"

    def _flooded(self, generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                return
            self.learner.floods += 1
            self.learner.flooded = self.learner.floods >= MAX_FLOODS
            self.dead_reason = f"output limit exceeded: it wrote more than {self.learner_budget // 1024} KiB"
            self.generation += 1  # nothing more from this container reaches the tester
            self._stop_learner()
        self._control({"learner": "down", "reason": self.dead_reason, "final": self.learner.flooded})

    def _stop_learner(self) -> None:
        if self.learner_stream is not None:
            self.learner_stream.close()
        if self.learner_name is not None:
            remove_by_name(self.learner_name)
        self.learner_stream = self.learner_name = None

    def restart(self, planned: bool) -> None:
        """The tester asked for a fresh learner process (`planned`: before a test, as the spec asks)."""
        if planned:
            self.learner.planned_restarts += 1
        else:
            self.learner.restarts_asked += 1
        with self.lock:
            if self.learner.flooded or self.learner.restarts_asked > MAX_RESTARTS:
                self.learner.refused_restarts += 1
                reason = self.dead_reason or "too many restarts"
                self._control({"learner": "down", "reason": reason, "final": True})
                return
            self.generation += 1
            self._stop_learner()
            self.dead_reason = None
        try:
            self.launch_learner()
        except Exception as exc:  # the Docker engine failed us, not the learner
            self.system_error = exc
            self.dead_reason = "the grader could not start it again"
            self._control({"learner": "down", "reason": self.dead_reason, "final": True})
            return
        self._control({"learner": "up", "generation": self.generation})

    # -- the tester's side -------------------------------------------------------------------------
    def attach_tester(self, container: Container) -> AttachedStream:
        self.tester_stream = AttachedStream(container)
        return self.tester_stream

    def _to_tester(self, line: bytes) -> None:
        if self.tester_stream is not None:
            self.tester_stream.send(line + b"\n")

    def _control(self, message: dict[str, Any]) -> None:
        self._to_tester(b"C " + json.dumps(message).encode())

    def pump_tester(self) -> None:
        """Read the tester's stdout until it ends: frames to the learner, restarts, results kept."""
        assert self.tester_stream is not None
        record = self.tester
        for line in self.tester_stream.lines(MAX_LINE):
            if line.startswith(self.bridge_prefix):
                with self.lock:
                    stream = self.learner_stream
                if stream is not None:
                    stream.send(line[len(self.bridge_prefix) :] + b"\n")
                continue
            if line.startswith(self.control_prefix):
                try:
                    planned = bool(json.loads(line[len(self.control_prefix) :]).get("planned"))
                except (ValueError, AttributeError):
                    planned = False
                self.restart(planned)
                continue
            record.total += len(line) + 1
            room = self.tester_limit - len(record.output)
            if room > 0:
                record.output.extend((line + b"\n")[:room])
            if record.total > self.tester_limit:
                record.overflowed.set()
                return

    def close(self) -> None:
        with self.lock:
            self.generation += 1
            self._stop_learner()
        if self.tester_stream is not None:
            self.tester_stream.close()


def create_container(image: str, options: dict[str, Any]) -> Container:
    return docker_client().containers.create(image, **options)
