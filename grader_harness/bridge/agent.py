"""Learner side of isolated unit mode: the learner's package, served over the bridge.

Runs as `python3 -I /opt/grader/agent.py` (runners/harness/agent.py) in the learner's own container (the learner's snapshot
mounted read-only, no network, no tests, no harness). It reads request frames from stdin and writes
reply frames to stdout, one JSON line each (grader_harness.bridge.codec); the worker relays them to and from the
tester's container. Nothing here is trusted: the learner's code can read, replace or forge anything
in this process, and that buys it nothing, because every reply is only data to the tester, checked
there, and the verdict is decided there.

Requests: {"i": id, "op": ..., ...}; replies: {"r": id, "ok": value} or {"r": id, "err": {...}}, with
"out" carrying what the learner's code printed during the request. While serving a request the
learner's code may call a function the tester passed in (a callback): the agent then sends
{"c": callback, "i": id, "a": args, "k": kwargs} and serves nested requests until the tester's reply.
"""

import builtins
import copy
import importlib
import operator
import os
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import Any

from grader_harness.bridge.codec import BridgeError, Codec, dumps, loads
from grader_harness.protocol import HOME_DIR, PYCACHE_DIR, RUN_DIR, SUBMISSION_DIR

SUBMISSION = SUBMISSION_DIR
OUTPUT_FILE = "/tmp/grader-agent-output-{pid}"
MAX_OUTPUT_PER_REPLY = 64 * 1024
MAX_TEXT = 4000
BATCH = 64
SPECIAL = (
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__iter__", "__next__",
    "__reversed__", "__contains__", "__getitem__", "__setitem__", "__delitem__", "__call__", "__enter__",
    "__exit__", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__",
    "__imul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__", "__xor__",
    "__rxor__", "__lshift__", "__rshift__", "__neg__", "__pos__", "__abs__", "__invert__", "__int__",
    "__float__", "__index__", "__round__",
)
OPERATORS: dict[str, Callable[..., Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge, "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
    "matmul": operator.matmul, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
    "lshift": operator.lshift, "rshift": operator.rshift, "iadd": operator.iadd, "isub": operator.isub,
    "imul": operator.imul, "neg": operator.neg, "pos": operator.pos, "abs": operator.abs,
    "invert": operator.invert, "index": operator.index, "contains": operator.contains,
    "getitem": operator.getitem, "setitem": operator.setitem, "delitem": operator.delitem,
    "len": len, "bool": bool, "hash": hash, "repr": repr, "str": str, "int": int, "float": float,
    "round": round, "format": format, "iter": iter, "reversed": reversed,
    "dir": lambda target: sorted(str(name) for name in dir(target)),
    "copy": copy.copy, "deepcopy": copy.deepcopy,
}


def nearest_builtin_exception(cls: Any) -> Any:
    for klass in cls.__mro__:
        if klass.__module__ == "builtins" and issubclass(klass, BaseException):
            return klass.__name__
    return None


def hash_kind(cls: Any) -> Any:
    method = getattr(cls, "__hash__", None)
    if method is None:
        return "none"
    return "default" if method is object.__hash__ else "custom"


def special_methods(cls: Any) -> Any:
    found = []
    for name in SPECIAL:
        try:
            mine, base = getattr(cls, name, None), getattr(object, name, None)
        except Exception:
            continue
        if mine is not None and mine is not base:
            found.append(name)
    return found


def resolve_path(module_name: Any, qualname: Any) -> Any:
    module = sys.modules.get(module_name)
    if module is None or "<" in qualname:
        return None
    value: Any = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


class CallbackStub:
    """A function of the tester's, as the learner's code sees it: calling it asks the tester to run it."""

    __slots__ = ("agent", "number")

    def __init__(self, number: Any, agent: Any) -> None:
        self.number = number
        self.agent = agent

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.agent.invoke_callback(self.number, args, kwargs)

    def __repr__(self) -> Any:
        return f"<function of the tests #{self.number}>"


class TesterError(Exception):
    """An exception raised by a tester's callback, as the learner's code sees it."""


class LearnerCodec(Codec):
    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def encode_object(self, value: Any) -> Any:
        return self.agent.reference(value)

    def decode_object(self, data: Any, depth: Any) -> Any:
        return self.agent.resolve(data)


class Agent:
    def __init__(self, proto_in: Any, proto_out: Any, output_fd: Any) -> None:
        self.proto_in = proto_in
        self.proto_out = proto_out
        self.output_fd = output_fd
        self.objects: dict[int, Any] = {}
        self.handles: dict[int, int] = {}
        self.described: set[int] = set()
        self.codec = LearnerCodec(self)
        self.lock = threading.RLock()
        self.next_call = 0

    # -- references ------------------------------------------------------------------------------
    def handle_of(self, value: Any) -> Any:
        handle = self.handles.get(id(value))
        if handle is None or self.objects.get(handle) is not value:
            handle = len(self.objects) + 1
            while handle in self.objects:
                handle += 1
            self.objects[handle] = value
            self.handles[id(value)] = handle
        return handle

    def path_of(self, value: Any) -> Any:
        module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str) and resolve_path(module, qualname) is value:
            return [module, qualname]
        return None

    def describe_class(self, cls: Any) -> Any:
        handle = self.handle_of(cls)
        if handle in self.described:
            return {"$": "class", "h": handle}
        self.described.add(handle)
        bases = [self.describe_class(b) for b in cls.__bases__ if b is not object and b.__module__ != "builtins"]
        return {
            "$": "class", "h": handle, "name": str(cls.__name__), "qualname": str(cls.__qualname__),
            "module": str(getattr(cls, "__module__", "") or ""), "path": self.path_of(cls), "bases": bases,
            "special": special_methods(cls), "exc": nearest_builtin_exception(cls), "hash": hash_kind(cls),
            "meta": type(cls) is not type, "doc": (cls.__doc__ or "")[:MAX_TEXT] if isinstance(cls.__doc__, str) else "",
        }

    def reference(self, value: Any) -> Any:
        if isinstance(value, CallbackStub):
            return {"$": "cb", "c": value.number}
        if isinstance(value, types.ModuleType):
            return {"$": "module", "n": value.__name__}
        if isinstance(value, type):
            return self.describe_class(value)
        ref = {"$": "ref", "h": self.handle_of(value), "c": self.describe_class(type(value))}
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            ref["path"] = self.path_of(value)
            ref["name"] = str(getattr(value, "__name__", ""))
        return ref

    def resolve(self, data: Any) -> Any:
        tag = data.get("$")
        if tag == "ref" or tag == "class":
            try:
                return self.objects[int(data["h"])]
            except (KeyError, ValueError, TypeError):
                raise BridgeError("unknown object handle") from None
        if tag == "module":
            return importlib.import_module(str(data["n"]))
        if tag == "named":
            importlib.import_module(str(data["m"]))
            value = resolve_path(str(data["m"]), str(data["q"]))
            if value is None:
                raise BridgeError(f"{data['m']}.{data['q']} no longer exists")
            return value
        if tag == "method":
            return getattr(self.resolve(data["self"]), str(data["n"]))
        if tag == "cb":
            return CallbackStub(int(data["c"]), self)
        if tag == "exc":
            kind = getattr(builtins, str(data.get("type")), None)
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                kind = TesterError
            return kind(str(data.get("str", "")))
        raise BridgeError(f"unknown value tag {str(tag)[:40]!r}")

    # -- requests --------------------------------------------------------------------------------
    def args(self, frame: Any) -> Any:
        args = [self.codec.decode(a) for a in frame.get("a", [])]
        kwargs = {str(k): self.codec.decode(v) for k, v in (frame.get("k") or {}).items()}
        return args, kwargs

    def perform(self, frame: Any) -> Any:
        op = frame.get("op")
        if op == "import":
            module = importlib.import_module(str(frame["n"]))
            names = getattr(module, "__all__", None)
            return {"$": "dict", "v": [
                ["name", module.__name__], ["package", hasattr(module, "__path__")],
                ["file", str(getattr(module, "__file__", "") or "")],
                ["all", [str(n) for n in names] if isinstance(names, (list, tuple)) else None],
            ]}, True
        if op == "release":
            for handle in frame.get("hs", []):
                value = self.objects.pop(handle, None)
                if value is not None and self.handles.get(id(value)) == handle:
                    del self.handles[id(value)]
            return None, False
        target: Any = self.codec.decode(frame["t"]) if "t" in frame else None
        if op == "getattr":
            name = str(frame["n"])
            value = getattr(target, name)
            if isinstance(value, types.MethodType) and value.__self__ is target and not isinstance(target, type):
                return {"$": "method", "self": self.codec.encode(target), "n": name}, True
            return value, False
        if op == "setattr":
            setattr(target, str(frame["n"]), self.codec.decode(frame["v"]))
            return None, False
        if op == "delattr":
            delattr(target, str(frame["n"]))
            return None, False
        if op == "exit":
            error = self.codec.decode(frame.get("e"))
            if isinstance(error, BaseException):
                return target.__exit__(type(error), error, error.__traceback__), False
            return target.__exit__(None, None, None), False
        args, kwargs = self.args(frame)
        if op == "call":
            return target(*args, **kwargs), False
        if op == "callmethod":
            return getattr(target, str(frame["n"]))(*args, **kwargs), False
        if op == "next":
            items = []
            for _ in range(BATCH):
                try:
                    items.append(next(target))
                except StopIteration:
                    return {"$": "dict", "v": [["items", self.codec.encode(items)], ["done", True]]}, True
            return {"$": "dict", "v": [["items", self.codec.encode(items)], ["done", False]]}, True
        if op == "op":
            function = OPERATORS.get(str(frame.get("o")))
            if function is None:
                raise BridgeError(f"unknown operation {str(frame.get('o'))[:40]!r}")
            return function(*args), False
        raise BridgeError(f"unknown request {str(op)[:40]!r}")

    def serve(self, frame: Any) -> Any:
        """Perform one request and send its reply."""
        number = frame.get("i")
        try:
            value, encoded = self.perform(frame)
            reply = {"r": number, "ok": value if encoded else self.codec.encode(value)}
        except BaseException as exc:  # the learner's code may raise anything, SystemExit included
            if isinstance(exc, KeyboardInterrupt):
                raise
            reply = {"r": number, "err": self.describe_error(exc)}
        self.send(reply)

    def describe_error(self, exc: Any) -> Any:
        try:
            args = self.codec.encode(list(exc.args))
        except Exception:
            args = [str(a)[:MAX_TEXT] for a in exc.args]
        try:
            text = str(exc)[:MAX_TEXT]
        except Exception:
            text = f"<{type(exc).__name__}>"
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        mine = [line for line in lines if __file__ not in line]
        error = {"cls": self.describe_class(type(exc)), "ref": self.reference(exc), "args": args, "str": text,
                 "tb": "".join(mine)[-MAX_TEXT:]}
        if isinstance(exc, ImportError) and isinstance(exc.name, str):
            error["name"] = exc.name
        return error

    def take_output(self) -> Any:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            size = os.lseek(self.output_fd, 0, os.SEEK_END)
            os.lseek(self.output_fd, max(0, size - MAX_OUTPUT_PER_REPLY), os.SEEK_SET)
            data = os.read(self.output_fd, MAX_OUTPUT_PER_REPLY)
            os.ftruncate(self.output_fd, 0)
        except OSError:
            return "", 0
        return data.decode("utf-8", "replace"), size

    def send(self, frame: Any) -> Any:
        output, size = self.take_output()
        if size:
            frame["out"] = output
            frame["out_bytes"] = size
        with self.lock:
            self.proto_out.write(dumps(frame) + "\n")
            self.proto_out.flush()

    def invoke_callback(self, number: Any, args: Any, kwargs: Any) -> Any:
        with self.lock:
            self.next_call += 1
            call = f"cb{self.next_call}"
            self.send({"c": number, "i": call, "a": [self.codec.encode(a) for a in args],
                       "k": {str(k): self.codec.encode(v) for k, v in kwargs.items()}})
            while True:
                frame = self.read()
                if frame is None:
                    raise TesterError("the tests went away during a callback")
                if frame.get("r") == call:
                    break
                self.serve(frame)
        if "err" in frame:
            error = frame["err"] if isinstance(frame["err"], dict) else {}
            kind = getattr(builtins, str(error.get("type", "")), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = TesterError
            raise kind(str(error.get("str", ""))[:MAX_TEXT])
        return self.codec.decode(frame.get("ok"))

    def read(self) -> Any:
        line = self.proto_in.readline()
        if not line:
            return None
        return loads(line)

    def run(self) -> Any:
        while True:
            try:
                frame = self.read()
            except BridgeError as exc:
                self.send({"r": None, "err": {"str": str(exc)}})
                continue
            if frame is None:
                return
            self.serve(frame)


def main() -> None:
    """The agent's process; its launcher has already set sys.dont_write_bytecode and sys.pycache_prefix, so
    a committed __pycache__ is never used instead of its source."""
    sys.dont_write_bytecode = True
    sys.pycache_prefix = PYCACHE_DIR
    # In the learner's container: the snapshot at SUBMISSION. Tests of the bridge name another folder.
    submission = sys.argv[1] if len(sys.argv) > 1 else SUBMISSION
    for folder in (HOME_DIR, RUN_DIR, PYCACHE_DIR):
        os.makedirs(folder, exist_ok=True)
    os.chdir(RUN_DIR)
    proto_in = os.fdopen(os.dup(0), "r", encoding="ascii", errors="replace")
    proto_out = os.fdopen(os.dup(1), "w", encoding="ascii", errors="replace")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    output_fd = os.open(OUTPUT_FILE.format(pid=os.getpid()), os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    os.unlink(OUTPUT_FILE.format(pid=os.getpid()))  # open as long as the agent lives, nowhere to be found after
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    sys.path.append(submission)
    Agent(proto_in, proto_out, output_fd).run()


if __name__ == "__main__":
    main()
