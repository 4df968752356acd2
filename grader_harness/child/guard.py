"""The integrity guard: an audit hook (which cannot be removed) that blocks and reports what learner code
must not do inside the test process, and the classifier that tells whose code a frame runs.

It blocks and reports learner code that reads test or harness files, snoops /proc, introspects the
tests' frames or code, walks the garbage collector, uses ctypes, installs tracers or audit hooks,
signals the harness or writes outside /tmp; network attempts are named (a notice), not punished.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import types
from _thread import get_ident
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from grader_harness.protocol import HARNESS_DIR

STDLIB = os.path.dirname(os.__file__) + "/"
VIA_INTROSPECTION = {STDLIB + "inspect.py", STDLIB + "traceback.py", STDLIB + "dis.py"}
LEARNER, TRUSTED, NEUTRAL = 1, 2, 3
FRAME_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
CODE_ATTRS = frozenset({"__code__", "__defaults__", "gi_code", "cr_code", "ag_code"})
CODE_OF: dict[type, str] = {types.FunctionType: "__code__", types.FrameType: "f_code", types.GeneratorType: "gi_code",
                            types.CoroutineType: "cr_code", types.AsyncGeneratorType: "ag_code"}
PROC_SECRET = re.compile(r"^/proc/(self|thread-self|\d+)(/task/\d+)?/(environ|mem|pagemap|fd/|fdinfo/|map_files/)")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
WRITABLE_DEVICES = {"/dev/null", "/dev/zero", "/dev/full", "/dev/stdout", "/dev/stderr", "/dev/tty"}
# A started process's command line naming one of these is a read of a protected path.
PROTECTED_IN_COMMANDS = ("/grader/", HARNESS_DIR)

Report = Callable[[str, str], None]
Handler = Callable[[tuple[Any, ...], "types.FrameType | None"], None]


def trusted_roots(tests_root: str, *tool_dirs: str) -> list[str]:
    """Folders whose code is the trusted side's: the tests (as mounted and as resolved), the harness and
    the test tools (pytest, pluggy)."""
    return [os.path.realpath(tests_root) + "/", tests_root.rstrip("/") + "/", HARNESS_DIR + "/",
            *(d.rstrip("/") + "/" for d in tool_dirs)]


def protected_roots(tests_root: str) -> list[str]:
    """Folders learner code may not read: the tests and the harness."""
    return [os.path.realpath(tests_root) + "/", tests_root.rstrip("/") + "/", HARNESS_DIR + "/"]


class Classifier:
    """Who a frame belongs to: the learner, the trusted side (pytest, harness, tests) or the stdlib."""

    def __init__(self, submission: str, trusted_roots: Iterable[str]):
        self.learner_root = submission.rstrip("/") + "/"
        self.trusted = tuple(trusted_roots)

    def of(self, filename: str) -> int:
        if filename.startswith(self.learner_root):
            return LEARNER
        if filename.startswith("<frozen "):
            return NEUTRAL
        if not filename.startswith("/"):
            return LEARNER  # code compiled at run time (exec, compile): treated as the learner's
        if filename.startswith(self.trusted):
            return TRUSTED
        return NEUTRAL

    def learner_involved(self, frame: types.FrameType | None) -> bool:
        """True if learner code is anywhere on the stack, or no trusted code is (a learner's thread/callback)."""
        trusted_seen = False
        while frame is not None:
            kind = self.of(frame.f_code.co_filename)
            if kind == LEARNER:
                return True
            trusted_seen = trusted_seen or kind == TRUSTED
            frame = frame.f_back
        return not trusted_seen

    def direct(self, frame: types.FrameType | None) -> bool:
        """The learner itself did it, or called inspect/traceback/dis which did it on its behalf."""
        if frame is None:
            return True
        name = frame.f_code.co_filename
        if self.of(name) == LEARNER:
            return True
        if name in VIA_INTROSPECTION and frame.f_back is not None:
            return self.of(frame.f_back.f_code.co_filename) == LEARNER
        return False

    def owner(self, obj: Any) -> int:
        """Whose code an audited object (function, frame, generator, class) belongs to."""
        if isinstance(obj, type):
            module = sys.modules.get(obj.__dict__.get("__module__") or "", None)
            filename = getattr(module, "__file__", None) or ""
            return self.of(filename) if filename else NEUTRAL
        kind = type(obj)
        if kind is types.MethodType:
            obj, kind = obj.__func__, type(obj.__func__)
        attr = CODE_OF.get(kind)
        code = getattr(obj, attr, None) if attr else None
        return self.of(code.co_filename) if isinstance(code, types.CodeType) else NEUTRAL


class Blocked(Exception):
    pass


class Guard:
    """The audit hook: blocks and reports what learner code must not do inside the test process."""

    def __init__(self, classifier: Classifier, report: Report, notice: Report, protected_roots: Iterable[str]):
        self.classify = classifier
        self.report = report
        self.notice = notice
        self.protected = tuple(protected_roots)
        self.busy: set[int] = set()
        self.armed = False
        self.harness_pid = os.getppid()
        try:
            self.harness_group = os.getpgid(self.harness_pid)
        except OSError:
            self.harness_group = self.harness_pid
        self.handlers: dict[str, Handler] = {
            "open": self.on_open,
            "os.kill": self.on_kill,
            "os.killpg": self.on_killpg,
            "socket.connect": self.on_connect,
            "socket.sendto": self.on_connect,
            "socket.getaddrinfo": self.on_lookup,
            "subprocess.Popen": self.on_spawn,
            "os.system": self.on_spawn,
            "os.exec": self.on_spawn,
            "os.posix_spawn": self.on_spawn,
            "os.spawn": self.on_spawn,
            "compile": self.on_compile,
            "code.__new__": self.on_code_new,
            "object.__setattr__": self.on_setattr,
            "object.__delattr__": self.on_setattr,
            "object.__getattr__": self.on_getattr,
            "sys._getframe": self.on_getframe,
            "sys._current_frames": self.on_anywhere("frame-introspection", "sys._current_frames()"),
            "sys.settrace": self.on_anywhere("tracing", "sys.settrace()"),
            "sys.setprofile": self.on_anywhere("tracing", "sys.setprofile()"),
            "sys.addaudithook": self.on_anywhere("audit-hook", "sys.addaudithook()"),
            "gc.get_objects": self.on_anywhere("gc-introspection", "gc.get_objects()"),
            "gc.get_referrers": self.on_anywhere("gc-introspection", "gc.get_referrers()"),
            "gc.get_referents": self.on_anywhere("gc-introspection", "gc.get_referents()"),
        }

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed:
            return
        handler = self.handlers.get(event)
        if handler is None:
            if event.startswith("ctypes."):
                handler = self.on_ctypes
            else:
                return
        ident = get_ident()
        if ident in self.busy:
            return
        self.busy.add(ident)
        try:
            handler(args, sys._getframe(1))
        except Blocked as exc:
            raise PermissionError(f"blocked by the grader's sandbox: {exc}") from None
        except Exception:
            pass  # a fault in the guard must never break a legitimate run
        finally:
            self.busy.discard(ident)

    def flag(self, code: str, detail: str) -> NoReturn:
        self.report(code, detail)
        raise Blocked(detail)

    # -- files ---------------------------------------------------------------------------------
    def _protected_read(self, path: str, real: str) -> bool:
        if real.startswith(self.protected) or path.startswith(self.protected):
            return True
        for candidate in (path, real):
            match = PROC_SECRET.match(candidate)
            if match and (match.group(1) not in ("self", "thread-self", str(os.getpid())) or
                          match.group(3) in ("mem", "pagemap", "map_files/")):
                return True
        return False

    def on_open(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        path, mode, flags = [*list(args), None, None][:3]
        if isinstance(path, int) or path is None:
            return
        path = os.fsdecode(path)
        path = path if path.startswith("/") else os.path.join(os.getcwd(), path)
        real = os.path.realpath(path)
        writing = bool(mode and any(c in mode for c in "wax+")) or bool(flags and flags & WRITE_FLAGS)
        if writing and not self._writable(path, real):
            if self.classify.learner_involved(frame):
                self.flag("write-outside-tmp", f"opened {path} for writing")
        elif self._protected_read(path, real) and self.classify.learner_involved(frame):
            self.flag("read-protected-file", f"opened {path}")

    @staticmethod
    def _writable(path: str, real: str) -> bool:
        if path in WRITABLE_DEVICES or path.startswith(("/proc/self/fd/", "/dev/fd/")):
            return True
        return real.startswith(("/tmp/", "/dev/shm/")) or real in WRITABLE_DEVICES

    # -- processes and signals -----------------------------------------------------------------
    def on_kill(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        pid, sig = args[0], args[1]
        hits_harness = pid in (self.harness_pid, 1, -1) or pid == -self.harness_group
        if sig != 0 and hits_harness and self.classify.learner_involved(frame):
            self.flag("signal-harness", f"os.kill({pid}, {sig})")

    def on_killpg(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        group, sig = args[0], args[1]
        if sig != 0 and group in (self.harness_group, 1) and self.classify.learner_involved(frame):
            self.flag("signal-harness", f"os.killpg({group}, {sig})")

    def on_spawn(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        text = repr(args)
        if (any(p in text for p in PROTECTED_IN_COMMANDS) or re.search(r"/proc/[^ ,'\"]*/(environ|mem)", text)) \
                and self.classify.learner_involved(frame):
            self.flag("read-protected-file", f"started a process on a protected path: {text[:200]}")

    # -- network (there is none in unit mode; the attempt is named, not punished) --------------
    def on_connect(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        address = args[1] if len(args) > 1 else None
        host = address[0] if isinstance(address, tuple) and address else None
        if isinstance(host, str) and not is_local(host) and self.classify.learner_involved(frame):
            self.notice("network-attempt", f"connection to {address!r}")

    def on_lookup(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        host = args[0] if args else None
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if isinstance(host, str) and host and not is_local(host) and self.classify.learner_involved(frame):
            self.notice("network-attempt", f"name lookup of {host!r}")

    # -- code, frames and introspection --------------------------------------------------------
    def on_compile(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        filename = args[1] if len(args) > 1 else None
        if isinstance(filename, bytes):
            filename = os.fsdecode(filename)
        if isinstance(filename, str) and filename.startswith(self.classify.trusted) \
                and self.classify.learner_involved(frame):
            self.flag("code-forgery", f"compiled code under the trusted name {filename}")

    def on_code_new(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        filename = args[1] if len(args) > 1 else None
        if isinstance(filename, str) and filename.startswith(self.classify.trusted) \
                and self.classify.learner_involved(frame):
            self.flag("code-forgery", f"built a code object named {filename}")

    def on_setattr(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        obj, name = args[0], args[1]
        if self.classify.owner(obj) == TRUSTED and self.classify.learner_involved(frame):
            self.flag("pytest-patched", f"changed {name} of {getattr(obj, '__qualname__', type(obj).__name__)}")

    def on_getattr(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        obj, name = args[0], args[1]
        if name in FRAME_ATTRS:
            if self.classify.direct(frame):
                self.flag("frame-introspection", f"read .{name}")
        elif (name == "f_code" or name in CODE_ATTRS) and self.classify.owner(obj) == TRUSTED \
                and self.classify.direct(frame):
            self.flag("frame-introspection" if name == "f_code" else "code-introspection",
                      f"read .{name} of the tests' or the harness's code")

    def on_getframe(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        if self.classify.direct(frame):
            self.flag("frame-introspection", "sys._getframe() / inspect.stack() from the submission")

    def on_anywhere(self, code: str, what: str) -> Handler:
        def handler(args: tuple[Any, ...], frame: types.FrameType | None) -> None:
            if self.classify.learner_involved(frame):
                self.flag(code, what)

        return handler

    def on_ctypes(self, args: tuple[Any, ...], frame: types.FrameType | None) -> None:
        while frame is not None and "/ctypes/" in frame.f_code.co_filename:
            frame = frame.f_back
        if frame is None or self.classify.of(frame.f_code.co_filename) == LEARNER:
            self.flag("ctypes", "the submission used ctypes")


def is_local(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


