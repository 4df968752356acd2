"""Processes in the sandbox: the harness's own protection (non-dumpable, signals ignored), the test
process's environment, and the end of everything the learner left behind."""

from __future__ import annotations

import ctypes
import os
import signal

from grader_harness.protocol import HOME_DIR

PR_SET_DUMPABLE = 4
# Signals learner processes of the same uid could send to stop the harness; SIGKILL and SIGSTOP
# cannot be ignored (a killed harness is caught by the worker as an incomplete run).
IGNORED_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
                   "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGPIPE", "SIGXFSZ")
# Signals the test process takes back from the harness's dispositions (pytest and the tests may use them).
CHILD_DEFAULT_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGALRM")


def make_non_dumpable() -> None:
    """Processes of the same uid can no longer read this one's memory, file descriptors or environment."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def restore_default_signals() -> None:
    for name in IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def ignore_signals() -> None:
    for name in IGNORED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def child_environment(service_url: str | None) -> dict[str, str]:
    env = {
        "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME_DIR,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    if service_url:
        env["GRADER_SERVICE_URL"] = service_url
    return env


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def is_live(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def kill_everything_else() -> int:
    """Processes the learner left behind (daemons, double forks) die with the run. Returns how many."""
    me = os.getpid()
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me) and is_live(entry):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed
