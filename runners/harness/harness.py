"""In-container harness, trusted side. Runs as `python3 -I /opt/grader/harness.py`.

It reads its run configuration (with the per-run token and the test modules' sources) from stdin,
makes itself non-dumpable so that learner processes of the same uid cannot read its memory, file
descriptors or environment, ignores every signal it can, then runs pytest in a child process
(child.py) whose output and results it captures. Only this process writes to the container's stdout,
one line per event: `@@grader:<token>:<json>`.

The child signs each result event with a per-run key (HMAC-SHA256, sequence-numbered) that it reads
from a pipe before any learner code can run, so a line written into the result pipe by learner code
(or by a process it left behind) is recognised as forged.

In service mode there is no learner code in this container at all: the harness waits for the
learner's service to answer, then runs the author's suites against it.

Standard library only: nothing from the learner's tree or the grader package is importable here.
"""

import ctypes
import hmac
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

PREFIX = "@@grader:"
MAX_EVENT_BYTES = 64 * 1024
MESSAGE_BUDGET = 1024 * 1024  # characters of failure messages per run, all tests together
PR_SET_DUMPABLE = 4
CHILD = "/opt/grader/child.py"
RELAYED = ("collect_error", "finish", "tamper", "notice")
# Test boundaries the child marks (see child.Boundaries): used here to attribute output, never relayed.
BOUNDARIES = ("begin", "end")
PHASES = ("setup", "call", "teardown")
PHASE_OUTCOMES = ("passed", "failed", "skipped")
# After pytest exits, how long buffered events may take to arrive before leftovers are killed.
DRAIN_S = 1.0
# Signals learner processes of the same uid could send to stop the harness; SIGKILL and SIGSTOP
# cannot be ignored (a killed harness is caught by the worker as an incomplete run).
IGNORED_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                   "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGPIPE", "SIGXFSZ")
# Output attributed to tests: bytes kept of what one test printed, of what was printed outside any test,
# and of all of it together (never more than the run's own output limit). grader/unit_mode.py leaves room
# for ATTRIBUTED_BUDGET in the worker's read cap.
SLICE_LIMIT = 4 * 1024
OUTSIDE_LIMIT = 16 * 1024
ATTRIBUTED_BUDGET = 1024 * 1024
# At a boundary the output pipe is read until empty: at most this many reads (a pipe holds at most 1 MiB
# unless raised; a writer that keeps it full has its slices marked unordered instead).
DRAIN_READS = 64


def make_non_dumpable():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def restore_default_signals():
    for name in IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def ignore_signals():
    for name in IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def safe_text(value):
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


class Emitter:
    def __init__(self, token):
        self.token = token
        # errors="replace": a last guard, should any string reach the stream unsanitized.
        self.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")

    def raw(self, line):
        self.out.write(line + "\n")
        self.out.flush()

    def emit(self, event):
        # Raw UTF-8 rather than \u escapes: the learner's captured output then grows at most 3-fold on
        # the way out (control characters are replaced first), which the worker's read cap allows for.
        body = json.dumps(safe_text(event), separators=(",", ":"), ensure_ascii=False)
        self.out.write(PREFIX + self.token + ":" + body + "\n")
        self.out.flush()


def child_environment(service_url):
    env = {
        "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    if service_url:
        env["GRADER_SERVICE_URL"] = service_url
    return env


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _is_live(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def kill_everything_else():
    """Processes the learner left behind (daemons, double forks) die with the run. Returns how many."""
    me = os.getpid()
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me) and _is_live(entry):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


class EventVerifier:
    """Checks each line of the result pipe: `<hmac hex> <json>`, sequence numbers 1, 2, 3, ..."""

    def __init__(self, key):
        self.key = key
        self.seq = 0
        self.forged = 0
        self.malformed = 0
        self.after_finish = 0
        self.finished = False
        self.tests = {}

    def check(self, line):
        """The event to relay, or None when the line is not a genuine, well-formed next event."""
        mac, _, body = line.partition(b" ")
        expected = hmac.new(self.key, body, "sha256").hexdigest().encode()
        if not hmac.compare_digest(mac, expected):
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
        if event.get("event") == "phase":
            return self.add_phase(event)
        if event.get("event") in BOUNDARIES:
            return self.boundary(event)
        if event.get("event") not in RELAYED:
            self.malformed += 1
            return None
        if event["event"] == "finish":
            self.finished = True
        return event

    def boundary(self, event):
        if not (isinstance(event.get("suite"), str) and isinstance(event.get("id"), str)):
            self.malformed += 1
            return None
        return {"event": event["event"], "suite": event["suite"], "id": event["id"]}

    def add_phase(self, event):
        """Setup, call and teardown of one test add up to its result, here, out of the learner's reach."""
        suite, test_id, when, outcome = event.get("suite"), event.get("id"), event.get("when"), event.get("outcome")
        duration, message = event.get("duration"), event.get("message")
        if not (isinstance(suite, str) and isinstance(test_id, str) and when in PHASES and outcome in PHASE_OUTCOMES
                and isinstance(duration, (int, float)) and isinstance(message, str)):
            self.malformed += 1
            return None
        state = self.tests.setdefault((suite, test_id), {"outcome": "passed", "duration": 0.0, "message": ""})
        state["duration"] += max(float(duration), 0.0)
        if outcome == "failed":
            state["outcome"] = "failed" if when == "call" else "error"
            state["message"] = message
        elif outcome == "skipped" and state["outcome"] == "passed":
            state["outcome"], state["message"] = "skipped", message
        if when != "teardown":
            return None
        del self.tests[(suite, test_id)]
        return {"event": "result", "suite": suite, "id": test_id, "outcome": state["outcome"],
                "duration": round(state["duration"], 4), "message": state["message"]}


class OutputCapture:
    """Keeps at most `limit` bytes of the child's output and counts protocol prefixes written into it.
    The same bytes are also split by test (`attributed`), from a budget of their own."""

    def __init__(self, limit):
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.prefixes = 0
        self.tail = b""
        self.attributed = AttributedOutput(min(limit, ATTRIBUTED_BUDGET))

    def add(self, chunk):
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept.extend(chunk[:room])
        window = self.tail + chunk
        self.prefixes += window.count(PREFIX.encode())
        self.tail = chunk[-(len(PREFIX) - 1):]
        self.attributed.add(chunk)


class Segment:
    """What was printed between two boundaries: the first `cap` bytes (as the budget allows), and a count."""

    def __init__(self, cap, suite=None, test_id=None, before_hidden=False):
        self.cap = cap
        self.suite = suite
        self.test_id = test_id
        self.before_hidden = before_hidden
        self.kept = bytearray()
        self.total = 0

    def text(self):
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
    (`ordered`, see Relay.boundary), so a child that does not wait at its boundaries, or a writer that
    keeps the pipe full, can only lose its output from the learner's view, never move hidden output
    into a visible test's."""

    def __init__(self, budget):
        self.left = budget
        self.outside = Segment(OUTSIDE_LIMIT)
        self.current = self.outside
        self.hidden_began = False

    def add(self, chunk):
        segment = self.current
        segment.total += len(chunk)
        room = min(segment.cap - len(segment.kept), self.left, len(chunk))
        if room > 0:
            segment.kept.extend(chunk[:room])
            self.left -= room

    def begin(self, suite, test_id, ordered):
        if suite != "visible":
            self.hidden_began = True
        self.current = Segment(SLICE_LIMIT, suite, test_id, before_hidden=ordered and not self.hidden_began)

    def end(self, suite, test_id, ordered):
        """The output event of the test now ending, or None (nothing printed, or no matching begin)."""
        segment, self.current = self.current, self.outside
        if segment is self.outside or (segment.suite, segment.test_id) != (suite, test_id) or not segment.total:
            return None
        return {"event": "output", "suite": suite, "id": test_id, "output": segment.text(),
                "output_bytes": segment.total, "before_hidden": segment.before_hidden and ordered}


CONTROL = {c: "?" for c in range(32) if c not in (9, 10)} | {127: "?"}


def printable(data):
    return data.decode("utf-8", "replace").translate(CONTROL)


class MessageBudget:
    """Failure messages are capped in total too, so the stream to the worker stays within its read cap
    however many (parametrized) tests there are."""

    def __init__(self, total):
        self.left = total

    def trim(self, event):
        message = event.get("message")
        if isinstance(message, str) and message:
            keep = max(0, min(len(message), self.left))
            event["message"] = message[-keep:] if keep else "(message omitted: the run's message budget is spent)"
            self.left -= keep
        return event


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

    def __init__(self, child, results_fd, emitter, verifier, capture, channel=None, ack_fd=None):
        self.child = child
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

    def run(self, deadline):
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
                    self.channel.on_ready(self.selector, key, mask)
                elif key.fd not in self.selector.get_map():
                    continue  # the output pipe, closed by a boundary's drain earlier in this round
                elif key.data == "output":
                    self.read_output()
                else:
                    self.read_results()

    def close_stream(self, fd):
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
            self.open_streams -= 1

    def read_output(self):
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

    def drain_output(self):
        """Read what is already in the output pipe. Returns whether it was emptied."""
        for _ in range(DRAIN_READS):
            if self.output_fd not in self.selector.get_map() or not self.read_output():
                return True
        return False

    def results_waiting(self):
        """Whether anything follows on the result pipe: lines already read, or bytes not yet read."""
        if self.pending:
            return True
        ready, _, _ = select.select([self.results_fd], [], [], 0)
        return bool(ready)

    def read_results(self):
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

    def boundary(self, event):
        """A test begins or ends: finish the segment in progress, start the next, release the child.
        Returns the ending test's output event, if any."""
        ordered = self.drain_output() and not self.results_waiting()
        attributed = self.capture.attributed
        if event["event"] == "begin":
            attributed.begin(event["suite"], event["id"], ordered)
            out = None
        else:
            out = attributed.end(event["suite"], event["id"], ordered)
        self.acknowledge(self.verifier.seq)
        return out

    def acknowledge(self, seq):
        # Never blocks: a child that does not read its acknowledgements only waits out its own timeout.
        if self.ack_fd is None:
            return
        try:
            os.write(self.ack_fd, b"%d\n" % seq)
        except OSError:  # full (BlockingIOError) or the child is gone (BrokenPipeError)
            pass


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
    MAX_LINE = 8 * 1024 * 1024
    MAX_QUEUED = 32 * 1024 * 1024

    def __init__(self, stdin_fd, initial, emitter):
        self.stdin_fd = stdin_fd
        self.emitter = emitter
        self.child_read, self.to_child = os.pipe()
        self.from_child, self.child_write = os.pipe()
        os.set_blocking(self.to_child, False)
        self.queued = bytearray(initial)
        self.from_child_pending = b""
        self.dropped = 0

    def child_started(self):
        os.close(self.child_read)
        os.close(self.child_write)

    def register(self, selector):
        selector.register(self.stdin_fd, selectors.EVENT_READ, "bridge-in")
        selector.register(self.from_child, selectors.EVENT_READ, "bridge-child")
        self._want_write(selector)

    def _want_write(self, selector):
        registered = self.to_child in selector.get_map()
        if self.queued and not registered:
            selector.register(self.to_child, selectors.EVENT_WRITE, "bridge-to-child")
        elif not self.queued and registered:
            selector.unregister(self.to_child)

    def on_ready(self, selector, key, mask):
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

    def forward(self, line):
        text = line.decode("ascii", "replace")
        kind, _, body = text.partition(" ")
        prefix = {"L": "@@bridge:", "C": "@@bctl:"}.get(kind)
        if prefix is not None:
            self.emitter.raw(prefix + self.emitter.token + ":" + body)


def wait_for_service(url, timeout_s):
    """Poll the learner's service until it answers below 400, or the timeout passes."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - started < timeout_s:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status < 400:
                    return True, round(time.monotonic() - started, 3), ""
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            last = str(getattr(exc, "reason", exc))[:300]
        time.sleep(0.25)
    return False, round(time.monotonic() - started, 3), last


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_config():
    """The first line of stdin, read without a buffer that could swallow the bridge frames after it."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    line, _, rest = data.partition(b"\n")
    return json.loads(line), rest


def main():
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
    emitter.emit({"event": "start", "harness": 2})
    try:
        run(config, emitter, started, bridge)
    except Exception:
        import traceback

        emitter.emit({"event": "crash", "traceback": traceback.format_exc()[-4000:]})
        sys.exit(3)


def run(config, emitter, started, bridge=None):
    service = config.get("service")
    if service:
        ready, waited, detail = wait_for_service(service["ready_url"], float(service["ready_timeout_s"]))
        emitter.emit({"event": "service", "ready": ready, "waited_s": waited, "detail": detail})
        if not ready:
            emitter.emit({"event": "end", "timed_out": False, "child_finished": False, "child_exit": None,
                          "duration": round(time.monotonic() - started, 3)})
            return
        started = time.monotonic()  # the test clock starts once the service answers
    for folder in ("/tmp/home", "/tmp/work"):
        os.makedirs(folder, exist_ok=True)
    key = os.urandom(32)
    child_config = {
        "key": key.hex(),
        "suites": config["suites"],
        "sources": config["sources"],
        "canaries": config["canaries"],
        "submission": config.get("submission"),
        "tests_root": config["tests_root"],
        "run_dir": "/tmp/work",
        "bridge": config.get("bridge"),
        "test_timeout_s": config.get("test_timeout_s"),
    }
    config_read, config_write = os.pipe()
    results_read, results_write = os.pipe()
    ack_read, ack_write = os.pipe()
    os.set_blocking(ack_write, False)
    # The acknowledgement pipe goes by the config, not argv, so argv stays as it was.
    child_config["ack_fd"] = ack_read
    child_fds = [config_read, results_write]
    channel = None
    if bridge is not None:
        channel = BridgeChannel(bridge[0], bridge[1], emitter)
        child_fds += [channel.child_read, channel.child_write]
    child = subprocess.Popen(
        [sys.executable, "-I", CHILD, *map(str, child_fds)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(*child_fds, ack_read),
        cwd="/tmp/work",
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
        write_all(config_write, json.dumps(child_config).encode())
    except BrokenPipeError:
        pass
    os.close(config_write)
    del child_config
    verifier = EventVerifier(key)
    capture = OutputCapture(int(config["output_limit"]))
    deadline = started + float(config["timeout_s"])
    timed_out = Relay(child, results_read, emitter, verifier, capture, channel, ack_write).run(deadline)
    kill_group(child.pid)
    try:
        exit_code = child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        exit_code = None
    leftovers = kill_everything_else()
    emitter.emit({
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
        "running": [list(key) for key in verifier.tests][:1],
    })


if __name__ == "__main__":
    main()
