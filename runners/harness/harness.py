"""In-container harness, trusted side. Runs as `python3 -I /opt/grader/harness.py`.

It reads its run configuration (with the per-run token) from stdin, makes itself non-dumpable so that
learner processes of the same uid cannot read its memory, file descriptors or environment, then runs
pytest with the learner's code in a child process whose output and results it captures. Only this
process writes to the container's stdout, one line per event: `@@grader:<token>:<json>`.

Standard library only: nothing from the learner's tree or the grader package is importable here.
"""

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time

PREFIX = "@@grader:"
MAX_EVENT_BYTES = 64 * 1024
PR_SET_DUMPABLE = 4
CHILD = "/opt/grader/child.py"


def make_non_dumpable():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


class Emitter:
    def __init__(self, token):
        self.token = token
        self.out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")

    def emit(self, event):
        self.out.write(PREFIX + self.token + ":" + json.dumps(event, separators=(",", ":")) + "\n")
        self.out.flush()


def write_canaries(directory, names):
    os.makedirs(directory, exist_ok=True)
    body = ["# Planted by the grader: each of these must fail.\n"]
    for name in names:
        body.append(f"\n\ndef {name}():\n    assert False, 'canary'\n")
    with open(os.path.join(directory, "test_canaries.py"), "w", encoding="utf-8") as handle:
        handle.writelines(body)


def child_environment():
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_everything_else():
    """Processes the learner left behind (daemons, double forks) die with the run."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def relay(child, results_fd, emitter, deadline, output_limit):
    """Forward result events, capture capped output, enforce the deadline. Returns run facts."""
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ, "output")
    selector.register(results_fd, selectors.EVENT_READ, "results")
    output = bytearray()
    output_total = 0
    pending = b""
    finished = False
    malformed = 0
    timed_out = False
    open_streams = 2
    while open_streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in selector.select(timeout=min(remaining, 1.0)):
            chunk = os.read(key.fd if key.data == "results" else child.stdout.fileno(), 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            if key.data == "output":
                output_total += len(chunk)
                room = output_limit - len(output)
                if room > 0:
                    output.extend(chunk[:room])
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if len(line) > MAX_EVENT_BYTES:
                    malformed += 1
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    malformed += 1
                    continue
                if not isinstance(event, dict) or event.get("event") not in ("result", "collect_error", "finish"):
                    malformed += 1
                    continue
                if event["event"] == "finish":
                    finished = True
                emitter.emit(event)
            if len(pending) > MAX_EVENT_BYTES:
                malformed += 1
                pending = b""
    return {
        "timed_out": timed_out,
        "child_finished": finished,
        "malformed_events": malformed,
        "output": output.decode("utf-8", "replace"),
        "output_bytes": output_total,
        "output_truncated": output_total > len(output),
    }


def main():
    config = json.loads(sys.stdin.readline())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    make_non_dumpable()
    emitter = Emitter(config["token"])
    # Nothing else may write to the container's stdout: fd 1 now points at a log sink.
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    started = time.monotonic()
    emitter.emit({"event": "start", "harness": 1})
    try:
        run(config, emitter, started)
    except Exception:
        import traceback

        emitter.emit({"event": "crash", "traceback": traceback.format_exc()[-4000:]})
        sys.exit(3)


def run(config, emitter, started):

    run_dir = "/tmp/run"
    canary_dir = os.path.join(run_dir, "canaries")
    write_canaries(canary_dir, config["canaries"])
    os.makedirs(os.path.join(run_dir, "cwd"), exist_ok=True)
    os.makedirs("/tmp/home", exist_ok=True)
    child_config = {
        "suites": config["suites"],
        "canary_dir": canary_dir,
        "submission": config["submission"],
        "run_dir": run_dir,
        "tests_root": config["tests_root"],
    }
    with open(os.path.join(run_dir, "child.json"), "w", encoding="utf-8") as handle:
        json.dump(child_config, handle)

    read_fd, write_fd = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-I", CHILD, str(write_fd), os.path.join(run_dir, "child.json")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        cwd=os.path.join(run_dir, "cwd"),
        env=child_environment(),
        start_new_session=True,
    )
    os.close(write_fd)
    deadline = started + float(config["timeout_s"])
    facts = relay(child, read_fd, emitter, deadline, int(config["output_limit"]))
    if facts["timed_out"]:
        kill_group(child.pid)
    try:
        exit_code = child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill_group(child.pid)
        exit_code = child.wait()
    kill_group(child.pid)
    kill_everything_else()
    facts["child_exit"] = exit_code
    facts["duration"] = round(time.monotonic() - started, 3)
    facts["event"] = "end"
    emitter.emit(facts)


if __name__ == "__main__":
    main()
