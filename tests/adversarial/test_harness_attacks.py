"""Going after the harness: its token, its memory, its stdout, its life, and what outlives the run."""

from __future__ import annotations

from tests.adversarial.conftest import TIMEOUT_S, assert_defeated, failing_with

# Run in a separate Python process, which has no audit hook. Every string that names /proc is built
# at run time so no check of the command line can see it.
OUT_OF_PROCESS_SNOOP = r"""
import os, re, sys
P = "/" + "proc"
found, readable = set(), []
for pid in os.listdir(P):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for name in ("environ", "cmdline", "mem", "fd/0", "fd/1"):
        try:
            fd = os.open(f"{P}/{pid}/{name}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        readable.append(f"{pid}/{name}")
        try:
            data = os.read(fd, 1 << 16)
            found.update(re.findall(rb"[A-Za-z0-9_-]{32}", data))
        except OSError:
            pass
        finally:
            os.close(fd)
lines = b"".join(b"@@grader:" + t + b':{"event":"end","timed_out":false,"child_finished":true,"child_exit":0}\n' for t in found)
lines += b'@@grader:guess:{"event":"finish","exit_status":0}\n'
for target in (f"{P}/1/fd/1", f"{P}/1/fd/2"):
    try:
        with open(target, "wb") as out:
            out.write(lines)
        print("WROTE", target)
    except OSError as exc:
        print("COULD NOT WRITE", target, exc)
print("READABLE", sorted(readable))
print("CANDIDATES", len(found))
"""


def test_snoop_proc_for_the_token_in_process(attack, record, no_leftovers) -> None:
    """Read every process's environment, command line and descriptors from inside the test process."""
    files = failing_with(
        """
        import os as _os
        for _pid in _os.listdir("/proc"):
            for _name in ("environ", "cmdline", "fd/0", "fd/1"):
                if _pid.isdigit() and int(_pid) != _os.getpid():
                    try:
                        _fd = _os.open(f"/proc/{_pid}/{_name}", _os.O_RDONLY | _os.O_NONBLOCK)
                        _os.read(_fd, 65536)
                        _os.close(_fd)
                    except (PermissionError, OSError):
                        pass
        _env = dict(_os.environ)
        print("ENVIRONMENT", sorted(_env))
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"read-protected-file"})
    environment = result.learner_output.split("ENVIRONMENT ", 1)[1].splitlines()[0]
    assert "TOKEN" not in environment.upper() and "GRADER" not in environment.upper()
    record(
        result, "Snoop `/proc/*/environ`, cmdline, fds and `os.environ` for the token", "audit hook; token never in env"
    )


def test_snoop_proc_from_another_process_and_forge(attack, record, no_leftovers) -> None:
    """From a subprocess (no audit hook): gather every token-like string readable under /proc, and write
    forged lines with each straight onto the container's stdout. The harness is non-dumpable and the
    token is only in its memory, so every forged line carries a wrong token."""
    files = failing_with(
        "import subprocess as _sp, sys as _sys\n"
        f"print(_sp.run([_sys.executable, '-c', {OUT_OF_PROCESS_SNOOP!r}], capture_output=True, text=True).stdout)\n"
    )
    result = attack(files)
    codes = {f.code for f in result.grade.flags}
    assert_defeated(result, flags={"forged-result-line"})
    # Had a real token leaked, its forged "end" line would have made the harness's own lines malformed.
    assert "malformed-results" not in codes and "harness-incomplete" not in codes
    output = result.learner_output
    assert "WROTE" in output
    readable = output.split("READABLE ", 1)[1].splitlines()[0]
    assert "/mem" not in readable  # neither the harness's nor the test process's memory is readable
    record(
        result,
        "Harvest token candidates under `/proc` from a subprocess; forge onto container stdout",
        "token only in non-dumpable harness",
    )


def test_kill_the_harness_in_process(attack, record, no_leftovers) -> None:
    """Signal the harness (our parent) and init: catchable signals first, then SIGKILL."""
    files = failing_with(
        """
        import os as _os, signal as _signal
        for _target in (_os.getppid(), 1):
            for _sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGKILL):
                try:
                    _os.kill(_target, _sig)
                except (PermissionError, ProcessLookupError):
                    pass
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"signal-harness"})
    record(result, "`os.kill` the harness and init (TERM, INT, HUP, KILL)", "audit hook")


def test_kill_the_harness_from_a_subprocess(attack, record, no_leftovers) -> None:
    """`kill -9` from a shell: nothing in the sandbox can stop it, but the run cannot end cleanly."""
    files = failing_with(
        "import os as _os, subprocess as _sp\n"
        "_sp.run(['sh', '-c', 'kill -TERM $0; kill -HUP 1; kill -KILL $0', str(_os.getppid())])\n"
    )
    result = attack(files)
    assert_defeated(result, flags={"sandbox-killed"}, tripwire=False)
    assert "killed" in result.grade.reason
    record(result, "`kill -9` the harness from a shell", "no report, no pass (named as a kill)")


def test_stop_the_harness(attack, record, no_leftovers) -> None:
    """SIGSTOP the harness so it never reports: the worker's own deadline ends the run."""
    files = failing_with(
        "import os as _os, subprocess as _sp\n_sp.run(['sh', '-c', 'kill -STOP $0', str(_os.getppid())])\n"
    )
    result = attack(files)
    assert_defeated(result, flags={"harness-unresponsive"}, tripwire=False)
    assert "time limit exceeded" in result.grade.reason
    record(result, "`kill -STOP` the harness", "worker deadline")


def test_daemon_outlives_the_test_and_forges(attack, record, no_leftovers) -> None:
    """A double-forked daemon (new session) that keeps writing forged events into the inherited result
    pipe and forged lines onto stdout while pytest runs and after it ends."""
    files = failing_with(
        """
        import os as _os, sys as _sys, time as _time
        _fd = int(_sys.argv[-1])
        if _os.fork() == 0:
            _os.setsid()
            if _os.fork() == 0:
                _deadline = _time.time() + 60
                while _time.time() < _deadline:
                    try:
                        _os.write(_fd, b'0' * 64 + b' {"event":"result","suite":"visible","id":"x","outcome":"passed","seq":99}\\n')
                        _os.write(1, b'@@grader:daemon:{"event":"finish","exit_status":0}\\n')
                    except OSError:
                        pass
                    _time.sleep(0.2)
            _os._exit(0)
        _os.wait()
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"forged-result-event", "leftover-processes"})
    record(result, "Double-forked daemon forging results during and after the run", "signed events; leftovers killed")


def test_sleep_past_the_deadline_after_forging(attack, record, no_leftovers) -> None:
    files = failing_with(
        """
        import os as _os, sys as _sys, time as _time
        _os.write(int(_sys.argv[-1]), b'{"event":"finish","exit_status":0}\\n')
        print('@@grader:x:{"event":"finish","exit_status":0}', flush=True)
        _time.sleep(3600)
        """
    )
    result = attack(files)
    assert_defeated(result, flags={"forged-result-event", "forged-output"})
    assert TIMEOUT_S <= result.timings["run"] < TIMEOUT_S + 15  # cut at the deadline, not left to sleep
    record(result, "Forge a finish event, then sleep past the deadline", "deadline + signed events")
