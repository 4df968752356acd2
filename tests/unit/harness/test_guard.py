"""The integrity guard's decisions without Docker: the classifier, and the audit hook's handlers called as
the interpreter would call them, from a frame of the learner's or of the trusted side."""

from __future__ import annotations

import os
import types
from typing import Any

import pytest

from grader_harness.child.guard import LEARNER, NEUTRAL, TRUSTED, Classifier, Guard, is_local, protected_roots

SUBMISSION = "/workspace/submission"
TESTS = "/grader/tests"


def frame_in(filename: str) -> types.FrameType:
    """A real frame whose code claims `filename` (as code compiled from that file would)."""
    code = compile("import sys\nframe = sys._getframe()", filename, "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    frame: types.FrameType = namespace["frame"]
    return frame


@pytest.fixture
def guard() -> tuple[Guard, list[tuple[str, str]], list[tuple[str, str]]]:
    classifier = Classifier(SUBMISSION, [TESTS + "/", "/opt/grader/"])
    reports: list[tuple[str, str]] = []
    notices: list[tuple[str, str]] = []
    guard = Guard(classifier, lambda c, d: reports.append((c, d)), lambda c, d: notices.append((c, d)),
                  protected_roots(TESTS))
    guard.armed = True
    return guard, reports, notices


def call(guard: Guard, event: str, args: tuple[Any, ...], filename: str) -> None:
    """Run the hook's handler for `event` as though code in `filename` raised it."""
    handler = guard.handlers.get(event) or (guard.on_ctypes if event.startswith("ctypes.") else None)
    assert handler is not None
    try:
        handler(args, frame_in(filename))
    except Exception as exc:
        if type(exc).__name__ == "Blocked":
            raise PermissionError(str(exc)) from None
        raise


def test_classifier() -> None:
    classifier = Classifier(SUBMISSION + "/", [TESTS + "/", "/opt/grader/"])
    assert classifier.of(SUBMISSION + "/ledger/core.py") == LEARNER
    assert classifier.of("<string>") == LEARNER  # compiled at run time
    assert classifier.of("<frozen importlib._bootstrap>") == NEUTRAL
    assert classifier.of(TESTS + "/hidden/test_h.py") == TRUSTED
    assert classifier.of("/opt/grader/grader_harness/child/reporter.py") == TRUSTED
    assert classifier.of(os.__file__) == NEUTRAL
    assert classifier.learner_involved(frame_in(SUBMISSION + "/x.py"))
    assert not classifier.learner_involved(frame_in(TESTS + "/visible/test_v.py"))
    assert classifier.learner_involved(None)  # no trusted code on the stack: a learner's thread


@pytest.mark.parametrize(
    ("path", "mode", "code"),
    [
        (TESTS + "/hidden/test_h.py", "r", "read-protected-file"),
        ("/opt/grader/grader_harness/signing.py", "rb", "read-protected-file"),
        ("/proc/1/environ", "r", "read-protected-file"),
        ("/proc/self/mem", "rb", "read-protected-file"),
        ("/etc/passwd", "w", "write-outside-tmp"),
        (SUBMISSION + "/ledger/core.py", "a", "write-outside-tmp"),
    ],
)
def test_learner_opens_are_blocked(guard: Any, path: str, mode: str, code: str) -> None:
    guard_, reports, _ = guard
    with pytest.raises(PermissionError):
        call(guard_, "open", (path, mode, 0), SUBMISSION + "/ledger/core.py")
    assert reports[-1][0] == code


@pytest.mark.parametrize(
    ("path", "mode"),
    [("/tmp/scratch.txt", "w"), ("/dev/null", "w"), (SUBMISSION + "/data.csv", "r"), ("/proc/self/status", "r")],
)
def test_learner_opens_that_are_allowed(guard: Any, path: str, mode: str) -> None:
    guard_, reports, _ = guard
    call(guard_, "open", (path, mode, 0), SUBMISSION + "/ledger/core.py")
    assert reports == []


def test_the_trusted_side_may_read_the_tests(guard: Any) -> None:
    guard_, reports, _ = guard
    call(guard_, "open", (TESTS + "/hidden/test_h.py", "r", 0), TESTS + "/visible/test_v.py")
    assert reports == []


def test_signals_to_the_harness_are_blocked(guard: Any) -> None:
    guard_, reports, _ = guard
    for pid in (guard_.harness_pid, 1, -1):
        with pytest.raises(PermissionError):
            call(guard_, "os.kill", (pid, 9), SUBMISSION + "/x.py")
    call(guard_, "os.kill", (guard_.harness_pid, 0), SUBMISSION + "/x.py")  # a liveness probe is fine
    assert [code for code, _ in reports] == ["signal-harness"] * 3


@pytest.mark.parametrize(
    ("event", "args", "code"),
    [
        ("sys.settrace", (None,), "tracing"),
        ("sys.addaudithook", (None,), "audit-hook"),
        ("gc.get_objects", (), "gc-introspection"),
        ("sys._getframe", (1,), "frame-introspection"),
        ("object.__getattr__", (None, "tb_frame"), "frame-introspection"),
        ("compile", (b"x = 1", "/opt/grader/child.py"), "code-forgery"),
        ("ctypes.dlopen", ("libc.so.6",), "ctypes"),
        ("subprocess.Popen", ("cat", ["cat", "/opt/grader/harness.py"], None, None), "read-protected-file"),
    ],
)
def test_learner_introspection_and_forgery_are_blocked(guard: Any, event: str, args: tuple[Any, ...], code: str) -> None:
    guard_, reports, _ = guard
    with pytest.raises(PermissionError):
        call(guard_, event, args, SUBMISSION + "/x.py")
    assert reports[-1][0] == code


def test_network_attempts_are_named_not_blocked(guard: Any) -> None:
    guard_, reports, notices = guard
    call(guard_, "socket.connect", (None, ("203.0.113.9", 80)), SUBMISSION + "/x.py")
    call(guard_, "socket.getaddrinfo", (b"example.org", 80), SUBMISSION + "/x.py")
    call(guard_, "socket.connect", (None, ("127.0.0.1", 80)), SUBMISSION + "/x.py")
    assert reports == [] and [code for code, _ in notices] == ["network-attempt", "network-attempt"]
    assert is_local("::1") and is_local("localhost") and not is_local("10.0.0.1")


def test_the_hook_is_inert_until_armed_and_never_breaks_a_run(guard: Any) -> None:
    guard_, reports, _ = guard
    guard_.armed = False
    guard_.hook("sys.settrace", (None,))
    guard_.armed = True
    guard_.hook("open", ("/tmp/x", "w", 0))  # called from this test's own frame: pytest is no learner
    guard_.hook("os.kill", ())  # a malformed event: the guard's own fault, swallowed
    assert reports == []
