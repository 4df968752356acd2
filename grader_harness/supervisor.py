"""In-container harness, trusted side: the supervisor. Runs as `python3 -I /opt/grader/harness.py`.

It reads its run configuration (with the per-run token and the test modules' sources) from stdin,
makes itself non-dumpable so that learner processes of the same uid cannot read its memory, file
descriptors or environment, ignores every signal it can, then runs pytest in a child process
(grader_harness.child, started as /opt/grader/child.py) whose output and results it captures. Only
this process writes to the container's stdout, one line per event: `@@grader:<token>:<json>`.

The child signs each result event with a per-run key (HMAC-SHA256, sequence-numbered) that it reads
from a pipe before any learner code can run, so a line written into the result pipe by learner code
(or by a process it left behind) is recognised as forged (grader_harness.signing).

In service mode there is no learner code in this container at all: the harness waits for the
learner's service to answer, then runs the author's suites against it.

Standard library only: nothing from the learner's tree or the grader package is importable here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from grader_harness.config import child_config, parse_run_config
from grader_harness.output import OutputCapture, printable
from grader_harness.processes import (
    child_environment,
    ignore_signals,
    kill_everything_else,
    kill_group,
    make_non_dumpable,
    restore_default_signals,
)
from grader_harness.protocol import (
    CHILD_SCRIPT,
    CRASH,
    HARNESS_VERSION,
    HOME_DIR,
    RUN_DIR,
    SERVICE,
    START,
    EndEvent,
    RunConfig,
)
from grader_harness.relay import BridgeChannel, Emitter, Relay
from grader_harness.service import wait_for_service
from grader_harness.signing import EventVerifier


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_config() -> tuple[RunConfig, bytes]:
    """The first line of stdin, read without a buffer that could swallow the bridge frames after it."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    line, _, rest = data.partition(b"\n")
    return parse_run_config(line), rest


def main() -> None:
    config, rest = read_config()
    # Isolated unit mode: the rest of stdin is the worker's relay from the learner's container.
    bridge = (os.dup(0), rest) if config.get("bridge") else None
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    make_non_dumpable()
    ignore_signals()
    emitter = Emitter(config["token"])
    # Nothing else may write to the container's stdout: fd 1 and 2 now point at a sink.
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    started = time.monotonic()
    emitter.emit({"event": START, "harness": HARNESS_VERSION})
    try:
        run(config, emitter, started, bridge)
    except Exception:
        import traceback

        emitter.emit({"event": CRASH, "traceback": traceback.format_exc()[-4000:]})
        sys.exit(3)


def run(config: RunConfig, emitter: Emitter, started: float, bridge: tuple[int, bytes] | None = None) -> None:
    service = config.get("service")
    if service:
        ready, waited, detail = wait_for_service(service["ready_url"], float(service["ready_timeout_s"]))
        emitter.emit({"event": SERVICE, "ready": ready, "waited_s": waited, "detail": detail})
        if not ready:
            not_run: EndEvent = {"event": "end", "timed_out": False, "child_finished": False, "child_exit": None,
                                 "duration": round(time.monotonic() - started, 3)}
            emitter.emit(not_run)
            return
        started = time.monotonic()  # the test clock starts once the service answers
    for folder in (HOME_DIR, RUN_DIR):
        os.makedirs(folder, exist_ok=True)
    key = os.urandom(32)
    config_read, config_write = os.pipe()
    results_read, results_write = os.pipe()
    ack_read, ack_write = os.pipe()
    os.set_blocking(ack_write, False)
    # The acknowledgement pipe goes by the config, not argv, so argv stays as it was.
    payload = json.dumps(child_config(config, key, ack_read)).encode()
    child_fds = [config_read, results_write]
    channel = None
    if bridge is not None:
        channel = BridgeChannel(bridge[0], bridge[1], emitter)
        child_fds += [channel.child_read, channel.child_write]
    # argv: CONFIG_FD RESULTS_FD [BRIDGE_IN BRIDGE_OUT] (grader_harness.child.main reads them by position).
    child = subprocess.Popen(
        [sys.executable, "-I", CHILD_SCRIPT, *map(str, child_fds)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(*child_fds, ack_read),
        cwd=RUN_DIR,
        env=child_environment(service["url"] if service else None),
        start_new_session=True,
        # The harness ignores signals; the learner's processes must not inherit that.
        restore_signals=True,
        preexec_fn=restore_default_signals,
    )
    os.close(config_read)
    os.close(results_write)
    os.close(ack_read)
    if channel is not None:
        channel.child_started()
    try:
        write_all(config_write, payload)
    except BrokenPipeError:
        pass
    os.close(config_write)
    del payload
    verifier = EventVerifier(key)
    capture = OutputCapture(int(config["output_limit"]))
    deadline = started + float(config["timeout_s"])
    timed_out = Relay(child, results_read, emitter, verifier, capture, channel, ack_write).run(deadline)
    kill_group(child.pid)
    exit_code: int | None
    try:
        exit_code = child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        exit_code = None
    leftovers = kill_everything_else()
    end: EndEvent = {
        "event": "end",
        "timed_out": timed_out,
        "child_finished": verifier.finished,
        "child_exit": None if timed_out else exit_code,
        "malformed_events": verifier.malformed,
        "forged_events": verifier.forged,
        "events_after_finish": verifier.after_finish,
        "protocol_in_output": capture.prefixes,
        "leftover_processes": leftovers,
        "output": printable(capture.kept),
        "output_bytes": capture.total,
        "output_truncated": capture.total > len(capture.kept),
        # What was printed outside any test; each test's own output went in its "output" event.
        "outside_output": capture.attributed.outside.text(),
        "outside_output_bytes": capture.attributed.outside.total,
        "duration": round(time.monotonic() - started, 3),
        # The test whose phases had begun and not ended: the one running when the run stopped.
        "running": [list(test) for test in verifier.tests][:1],
    }
    emitter.emit(end)


if __name__ == "__main__":
    main()
