"""Tester side of isolated unit mode: the learner's modules as transparent proxies.

The author's suites run in the tester's container, where no learner code exists. `import ledger` there
is answered by a finder that asks the learner's container (through the worker's relay) to import the
module, and returns a proxy module; everything the tests do with it becomes a request:

* attribute reads and writes, calls and operators on learner objects are forwarded; plain values
  (numbers, strings, containers, Decimal, dates, ...) come back by value (bridge_codec), everything
  else as a proxy holding a reference the learner's side resolves;
* learner classes become local classes, so `isinstance`, `pytest.raises` and `except` work by the
  learner's class identity: a learner exception arrives as an instance of its class's proxy, a real
  subclass of the nearest built-in exception (never of BaseException outside Exception, so learner
  code cannot stop pytest);
* what the tests pass to the learner goes by value; a plain function goes as a callback (the
  learner's side can only ask for it to be called with values, and gets a value back); any other
  tester object is refused, so the learner's side never holds a handle to anything of the tester's;
* every request has a time limit; a learner side that hangs, crashes or floods fails the current
  request, and is restarted (by the worker) before the next one.

Nothing here trusts a byte from the learner's side: replies are parsed as data, checked against the
request they answer, and their only power is to be the value a learner function returned.
"""

import builtins
import functools
import importlib.abc
import importlib.machinery
import os
import select
import sys
import time
import types
import weakref
from typing import Any, cast

import pytest

from grader_harness.bridge.codec import BridgeError, Codec, dumps, loads

MAX_RESTARTS = 25
RESTART_TIMEOUT_S = 60.0
MAX_LINE = 8 * 1024 * 1024
ALLOWED_DUNDERS = frozenset({"__dict__", "__doc__", "__name__", "__qualname__", "__module__", "__annotations__",
                             "__slots__", "__match_args__", "__all__", "__version__", "__file__", "__wrapped__"})
TEST_FRAMEWORK = ("_pytest", "pytest", "pluggy", "unittest")


class LearnerError(Exception):
    """The learner's side failed a request in a way that is not an exception of its own code."""


class LearnerTimeout(LearnerError):
    """The learner's code did not answer within the time limit of one call."""


class LearnerGone(LearnerError):
    """The learner's process ended (crashed, was killed for a limit, or exited) during a request."""


class LearnerExit(LearnerError):
    """The learner's code raised SystemExit, KeyboardInterrupt or another BaseException."""


class StaleObject(LearnerError):
    """An object from before the learner's side was restarted."""


class Ref:
    """What a proxy holds: the learner side's handle and the generation of the learner process."""

    __slots__ = ("generation", "handle")

    def __init__(self, handle: Any, generation: Any) -> None:
        self.handle = handle
        self.generation = generation


def remote_getattr(target: Any, name: Any) -> Any:
    """An attribute of a learner object, read in the learner's process. Dunder names other than a few
    plain ones are not forwarded: Python and pytest probe for them (`__dataclass_fields__`, `__len__`...)
    and must find what the proxy itself defines."""
    __tracebackhide__ = True
    if name.startswith("__") and name.endswith("__") and name not in ALLOWED_DUNDERS:
        raise AttributeError(name)
    return CONNECTION.request({"op": "getattr", "t": target, "n": name})


def _ref(proxy: Any) -> Any:
    return object.__getattribute__(proxy, "_grader_ref")


# -- proxies ---------------------------------------------------------------------------------------


class RemoteClass(type):
    """The metaclass of every learner class's proxy: calling the class and class attributes go remote."""

    _grader_remote = True

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "call", "t": cls, "a": list(args), "k": kwargs})

    def __getattr__(cls, name: Any) -> Any:
        __tracebackhide__ = True
        return remote_getattr(cls, name)

    def __setattr__(cls, name: Any, value: Any) -> Any:
        __tracebackhide__ = True
        if name.startswith("_grader_") or (name.startswith("__") and name.endswith("__")):
            type.__setattr__(cls, name, value)
        else:
            CONNECTION.request({"op": "setattr", "t": cls, "n": name, "v": value})

    def __delattr__(cls, name: Any) -> Any:
        __tracebackhide__ = True
        CONNECTION.request({"op": "delattr", "t": cls, "n": name})

    def __repr__(cls) -> Any:
        return f"<class '{cls.__module__}.{cls.__qualname__}'>"


class RemoteMetaClass(RemoteClass):
    """The proxy's metaclass when the learner's class has a metaclass of its own (an Enum, say): the
    class itself can then be iterated, measured and indexed, remotely."""

    def __bool__(cls) -> Any:
        return True

    def __iter__(cls) -> Any:
        return RemoteIterator(CONNECTION.request({"op": "op", "o": "iter", "a": [cls]}))

    def __len__(cls) -> Any:
        return CONNECTION.request({"op": "op", "o": "len", "a": [cls]})

    def __contains__(cls, item: Any) -> Any:
        return CONNECTION.request({"op": "op", "o": "contains", "a": [cls, item]})

    def __getitem__(cls, key: Any) -> Any:
        return CONNECTION.request({"op": "op", "o": "getitem", "a": [cls, key]})



def _forward(op: Any) -> Any:
    def method(self: Any, *args: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "op", "o": op, "a": [self, *args]})

    method.__name__ = f"__{op}__"
    return method


def _reflected(op: Any) -> Any:
    def method(self: Any, other: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "op", "o": op, "a": [other, self]})

    method.__name__ = f"__r{op}__"
    return method


def _call_method(name: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "callmethod", "t": self, "n": name, "a": list(args), "k": kwargs})

    method.__name__ = name
    return method


def _iterate(self: Any) -> Any:
    __tracebackhide__ = True
    return RemoteIterator(CONNECTION.request({"op": "op", "o": "iter", "a": [self]}))


def _exit(self: Any, kind: Any, value: Any, traceback: Any) -> Any:
    __tracebackhide__ = True
    # The exception crosses as the learner's own (a proxy's) or as a built-in copy; tracebacks never do.
    return CONNECTION.request({"op": "exit", "t": self, "e": value})


BINARY = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift")
FORWARDERS = {
    "__iter__": _iterate, "__exit__": _exit, "__next__": _call_method("__next__"),
    "__enter__": _call_method("__enter__"), "__call__": _call_method("__call__"),
    **{f"__{op}__": _forward(op) for op in ("eq", "ne", "lt", "le", "gt", "ge", "len", "bool", "contains",
                                             "getitem", "setitem", "delitem", "neg", "pos", "abs", "invert",
                                             "int", "float", "index", "round", "reversed", "iadd", "isub",
                                             "imul", *BINARY)},
    **{f"__r{op}__": _reflected(op) for op in BINARY},
}


class RemoteObject:
    """An instance of a learner class, by reference."""

    __slots__ = ("__weakref__", "_grader_ref")
    _grader_remote = True

    def __getattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        return remote_getattr(self, name)

    def __setattr__(self, name: Any, value: Any) -> Any:
        __tracebackhide__ = True
        CONNECTION.request({"op": "setattr", "t": self, "n": name, "v": value})

    def __delattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        CONNECTION.request({"op": "delattr", "t": self, "n": name})

    def __repr__(self) -> Any:
        return CONNECTION.request({"op": "op", "o": "repr", "a": [self]})

    def __str__(self) -> Any:
        return CONNECTION.request({"op": "op", "o": "str", "a": [self]})

    def __format__(self, spec: Any) -> Any:
        return CONNECTION.request({"op": "op", "o": "format", "a": [self, spec]})

    def __dir__(self) -> Any:
        return CONNECTION.request({"op": "op", "o": "dir", "a": [self]})

    def __copy__(self) -> Any:
        return CONNECTION.request({"op": "op", "o": "copy", "a": [self]})

    def __deepcopy__(self, memo: Any) -> Any:
        return CONNECTION.request({"op": "op", "o": "deepcopy", "a": [self]})

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("objects of the learner's code cannot be pickled")


class RemoteException:
    """Mixed into the proxy of a learner exception class, beside its nearest built-in exception."""

    _grader_remote = True

    def __getattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        if name.startswith("_") or "_grader_ref" not in self.__dict__:
            raise AttributeError(name)
        return CONNECTION.request({"op": "getattr", "t": self, "n": name})

    def __str__(self) -> Any:
        return self.__dict__.get("_grader_str", "")


class RemoteFunction:
    """A learner function (or other callable that is not a class), by reference."""

    _grader_remote = True  # no __slots__: __name__, __qualname__ and __module__ live in the instance's dict

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "call", "t": self, "a": list(args), "k": kwargs})

    def __getattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        return remote_getattr(self, name)

    def __repr__(self) -> Any:
        return f"<function {self.__module__}.{self.__qualname__} of the learner>"


class BoundRemoteMethod:
    """`obj.method` of a learner object: calling it is one request."""

    __slots__ = ("name", "owner")
    _grader_remote = True

    def __init__(self, owner: Any, name: Any) -> None:
        self.owner = owner
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return CONNECTION.request({"op": "callmethod", "t": self.owner, "n": self.name, "a": list(args),
                                   "k": kwargs})

    def __eq__(self, other: Any) -> Any:
        return isinstance(other, BoundRemoteMethod) and other.owner is self.owner and other.name == self.name

    def __hash__(self) -> Any:
        return hash((id(self.owner), self.name))

    def __repr__(self) -> Any:
        return f"<bound method {self.name} of the learner's {type(self.owner).__name__}>"


class RemoteIterator:
    """Iterates a learner iterator in batches (one request per batch, not per item)."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote
        self.buffer: list[Any] = []
        self.done = False

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        __tracebackhide__ = True
        if not self.buffer and not self.done:
            batch = CONNECTION.request({"op": "next", "t": self.remote})
            self.buffer = list(batch["items"])[::-1]
            self.done = bool(batch["done"])
        if not self.buffer:
            raise StopIteration
        return self.buffer.pop()


class RemoteModule(types.ModuleType):
    """A learner module: its attributes live in the learner's process."""

    _grader_remote = True

    def __getattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        return remote_getattr(self, name)

    def __setattr__(self, name: Any, value: Any) -> Any:
        __tracebackhide__ = True
        if (name.startswith("__") and name.endswith("__")) or isinstance(value, RemoteModule):
            types.ModuleType.__setattr__(self, name, value)  # import machinery and submodules: local
        else:
            CONNECTION.request({"op": "setattr", "t": self, "n": name, "v": value})

    def __delattr__(self, name: Any) -> Any:
        __tracebackhide__ = True
        if name in self.__dict__:
            types.ModuleType.__delattr__(self, name)
        else:
            CONNECTION.request({"op": "delattr", "t": self, "n": name})

    def __repr__(self) -> Any:
        return f"<module {self.__name__!r} of the learner>"


# -- the codec of the tester's side ------------------------------------------------------------------


CALLBACK_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)


def _local_exception(module: Any, qualname: Any) -> Any:
    """A standard exception class the tester has too (decimal.InvalidOperation, json.JSONDecodeError)."""
    top = module.split(".")[0]
    if module == "builtins":
        found = getattr(builtins, qualname, None)
    elif top not in sys.stdlib_module_names or top in TEST_FRAMEWORK or module not in sys.modules:
        return None  # the learner names the class: only the standard library's are taken as the tester's own
    else:
        found = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return None


class TesterCodec(Codec):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def encode_object(self, value: Any) -> Any:
        connection = self.connection
        if isinstance(value, RemoteModule):
            return {"$": "module", "n": value.__name__}
        if isinstance(value, RemoteClass):
            return connection.by_handle_or_name(value.__dict__.get("_grader_class_ref"), value.__dict__, "class")
        if isinstance(value, RemoteFunction):
            return connection.by_handle_or_name(value.__dict__.get("_grader_ref"), value.__dict__, "ref")
        if isinstance(value, RemoteObject):
            return {"$": "ref", "h": connection.live(_ref(value))}
        if isinstance(value, RemoteException) and "_grader_ref" in value.__dict__:
            return {"$": "ref", "h": connection.live(value.__dict__["_grader_ref"])}
        if isinstance(value, BoundRemoteMethod):
            return {"$": "method", "self": self.encode(value.owner), "n": value.name}
        if isinstance(value, CALLBACK_TYPES):
            return {"$": "cb", "c": connection.callback_number(value)}
        if isinstance(value, BaseException):  # e.g. what ended a `with` block, for a learner's __exit__
            kind = type(value).__name__ if getattr(builtins, type(value).__name__, None) is type(value) else "Exception"
            return {"$": "exc", "type": kind, "str": str(value)[:2000]}
        raise BridgeError(
            f"a {type(value).__name__} of the tests cannot be passed to the learner's code: pass plain values "
            "(numbers, strings, containers, dates, Decimal), the learner's own objects, or a function"
        )

    def decode_object(self, data: Any, depth: Any) -> Any:
        tag = data["$"]
        connection = self.connection
        if tag == "module":
            return connection.module(str(data["n"]))
        if tag == "class":
            return connection.remote_class(data)
        if tag == "ref":
            return connection.remote_object(data)
        if tag == "method":
            return BoundRemoteMethod(self.decode(data["self"], depth + 1), str(data["n"]))
        if tag == "cb":
            return connection.callbacks[int(data["c"])]
        raise BridgeError(f"unknown value tag {str(tag)[:40]!r}")


# -- the connection ----------------------------------------------------------------------------------


class Connection:
    """Requests to the learner's side over the harness's pipes, and the proxies they produce.

    Lines to the harness: "L <frame>" for the learner, "C <json>" for the worker (restart). Lines from
    it: "L <frame>" from the learner, "C <json>" from the worker (the learner went down or came up).
    """

    def __init__(self, read_fd: Any, write_fd: Any, call_timeout_s: Any, report: Any) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.call_timeout_s = call_timeout_s
        self.report = report
        self.pending = b""
        self.number = 0
        self.generation = 1
        self.down_reason: str | None = None
        self.restarts = 0
        self.codec = TesterCodec(self)
        self.modules: dict[str, Any] = {}
        self.classes: dict[Any, Any] = {}
        self.objects: weakref.WeakValueDictionary[tuple[int, int], Any] = weakref.WeakValueDictionary()
        self.functions: weakref.WeakValueDictionary[tuple[int, int], Any] = weakref.WeakValueDictionary()
        self.callbacks: dict[int, Any] = {}
        self.callback_numbers: dict[int, int] = {}
        self.called: set[Any] = set()  # the tests' functions the learner's code asked to run (for the audit)
        self.stats = {"requests": 0, "callbacks": 0, "timeouts": 0, "restarts": 0, "seconds": 0.0}

    # -- wire ------------------------------------------------------------------------------------
    def write(self, line: Any) -> Any:
        data = memoryview(line.encode("ascii") + b"\n")
        while data:
            data = data[os.write(self.write_fd, data):]

    def read_line(self, deadline: Any) -> Any:
        """The next line from the harness, or None when `deadline` passes first."""
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                raise LearnerGone("the channel to the learner's side closed")
            self.pending += chunk
            if len(self.pending) > MAX_LINE and b"\n" not in self.pending:
                self.pending = b""
                raise LearnerError("the learner's side sent a reply larger than the bridge accepts")
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode("ascii", "replace")

    # -- requests --------------------------------------------------------------------------------
    def request(self, frame: Any) -> Any:
        __tracebackhide__ = True
        self.ensure_up()
        self.number += 1
        number = frame["i"] = self.number
        generation = self.generation
        started = time.monotonic()
        try:
            frame = {key: (value if key in ("i", "op", "o", "n") else self._encode_field(key, value))
                     for key, value in frame.items()}
        except BridgeError as exc:
            raise TypeError(str(exc)) from None
        self.stats["requests"] += 1
        self.write("L " + dumps(frame))
        try:
            return self.wait(number, generation, started + self.call_timeout_s)
        except LearnerError:
            raise
        except BaseException as exc:
            if not getattr(exc, "_grader_from_learner", False):
                # Interrupted mid-call (a test's time limit): the learner may still be busy with it.
                self.down_reason = "a call to it was interrupted"
            raise
        finally:
            self.stats["seconds"] += time.monotonic() - started

    def _encode_field(self, key: Any, value: Any) -> Any:
        if key == "a":
            return [self.codec.encode(item) for item in value]
        if key == "k":
            return {str(name): self.codec.encode(item) for name, item in value.items()}
        return self.codec.encode(value)

    def wait(self, number: Any, generation: Any, deadline: Any) -> Any:
        __tracebackhide__ = True
        while True:
            line = self.read_line(deadline)
            if line is None:
                self.stats["timeouts"] += 1
                self.down_reason = f"it did not answer within {self.call_timeout_s:g} s"
                raise LearnerTimeout(f"the learner's code did not answer within {self.call_timeout_s:g} s")
            kind, _, body = line.partition(" ")
            if kind == "C":
                self.on_control(body)
                if self.down_reason is not None:
                    raise LearnerGone(f"the learner's process stopped: {self.down_reason}")
                continue
            if kind != "L" or self.generation != generation:
                continue
            try:
                reply = loads(body)
            except BridgeError as exc:
                self.down_reason = "it broke the protocol"  # a fresh process serves the next request
                raise LearnerError(f"the learner's side broke the protocol: {exc}") from None
            if "c" in reply and "i" in reply:
                self.show_output(reply)  # printed before the learner's code called back
                self.run_callback(reply)
                continue
            if reply.get("r") != number:
                continue  # a late reply to a request that already timed out
            self.show_output(reply)
            if "err" in reply:
                raise self.decode_error(reply["err"])
            try:
                return self.codec.decode(reply.get("ok"))
            except BridgeError as exc:
                raise LearnerError(f"the learner's side sent a value the bridge cannot take: {exc}") from None

    def show_output(self, reply: Any) -> Any:
        """What the learner's code printed during the request, printed here: pytest's capture (and capsys)
        sees it as the test's own output, and the harness attributes it to the test that made the request
        (the learner's side chooses neither: it only answers the requests it is sent)."""
        output = reply.get("out")
        if isinstance(output, str) and output:
            sys.stdout.write(output)
            sys.stdout.flush()

    def on_control(self, body: Any) -> Any:
        try:
            message = loads(body)
        except BridgeError:
            return
        if message.get("learner") == "down":
            self.down_reason = str(message.get("reason", "it stopped"))[:500]
        elif message.get("learner") == "up":
            self.generation = int(message.get("generation", self.generation + 1))
            self.down_reason = None

    def ensure_up(self) -> Any:
        if self.down_reason is None:
            return
        if self.restarts >= MAX_RESTARTS:
            raise LearnerGone(f"the learner's process stopped ({self.down_reason}) and was restarted too often")
        self.restart()

    def restart(self, planned: Any = False) -> Any:
        """Ask the worker for a fresh learner container (`planned`: the spec's isolation per test, not a
        failure); wait until it is up."""
        __tracebackhide__ = True
        if not planned:
            self.restarts += 1
            self.stats["restarts"] += 1
        self.write("C " + dumps({"restart": True, "planned": bool(planned)}))
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while True:
            line = self.read_line(deadline)
            if line is None:
                raise LearnerGone("the learner's side could not be restarted")
            kind, _, body = line.partition(" ")
            if kind == "C":
                previous = self.generation
                self.on_control(body)
                if self.generation != previous and self.down_reason is None:
                    return
                if message_is_final(body):
                    raise LearnerGone(f"the learner's side cannot be restarted: {self.down_reason}")

    def by_handle_or_name(self, ref: Any, namespace: Any, tag: Any) -> Any:
        """A learner class or function: by its handle while that is alive (the very object, even after the
        name was rebound, as monkeypatch's undo needs), by its qualified name after a restart."""
        if ref is not None and ref.generation == self.generation:
            return {"$": tag, "h": ref.handle}
        path = namespace.get("_grader_path")
        if path:
            return {"$": "named", "m": path[0], "q": path[1]}
        raise StaleObject("this object belonged to the learner's process before it was restarted")

    def live(self, ref: Any) -> Any:
        if ref.generation != self.generation:
            raise StaleObject("this object belonged to the learner's process before it was restarted")
        return ref.handle

    # -- callbacks -------------------------------------------------------------------------------
    def callback_number(self, function: Any) -> Any:
        number = self.callback_numbers.get(id(function))
        if number is None or self.callbacks.get(number) is not function:
            number = len(self.callbacks) + 1
            self.callbacks[number] = function
            self.callback_numbers[id(function)] = number
        return number

    def run_callback(self, frame: Any) -> Any:
        """The learner's code calls a function of the tests: values in, a value out."""
        self.stats["callbacks"] += 1
        reply = {"r": frame.get("i")}
        try:
            function = self.callbacks[int(frame["c"])]
            self.called.add(function)
            args = [self.codec.decode(a) for a in frame.get("a", [])]
            kwargs = {str(k): self.codec.decode(v) for k, v in (frame.get("k") or {}).items()}
            reply["ok"] = self.codec.encode(function(*args, **kwargs))
        except Exception as exc:  # the callback's own failure goes back to the learner's code
            kind = type(exc).__name__ if getattr(builtins, type(exc).__name__, None) is type(exc) else "Exception"
            reply["err"] = {"type": kind, "str": str(exc)[:2000]}
        self.write("L " + dumps(reply))

    # -- proxies ---------------------------------------------------------------------------------
    def module(self, name: Any) -> Any:
        module = sys.modules.get(name)
        if isinstance(module, RemoteModule):
            return module
        return importlib.import_module(name)

    def remote_class(self, data: Any) -> Any:
        handle = int(data["h"])
        known = self.classes.get((self.generation, handle))
        if known is not None:
            return known
        if "name" not in data:
            raise BridgeError("a class reference arrived before its description")
        path = tuple(data["path"]) if data.get("path") else None
        cls = self.classes.get(path) if path else None
        if cls is None:
            cls = self.build_class(data, path)
            if path:
                self.classes[path] = cls
        type.__setattr__(cls, "_grader_class_ref", Ref(handle, self.generation))
        self.classes[(self.generation, handle)] = cls
        return cls

    def build_class(self, data: Any, path: Any) -> Any:
        name, module = str(data["name"]), str(data.get("module", ""))
        bases = tuple(self.remote_class(base) for base in data.get("bases", []))
        special = [str(s) for s in data.get("special", []) if str(s) in FORWARDERS]
        namespace = {name_: FORWARDERS[name_] for name_ in special}
        namespace.update({"__module__": module, "__qualname__": str(data.get("qualname", name)),
                          "__doc__": str(data.get("doc", "")) or None, "_grader_path": path})
        kind = str(data["hash"]) if data.get("hash") in ("none", "custom", "default") else "default"
        if kind == "none":
            namespace["__hash__"] = None
        elif kind == "custom":
            namespace["__hash__"] = _forward("hash")
        elif "__eq__" in namespace and not any("__eq__" in vars(b) for b in bases):
            namespace["__hash__"] = object.__hash__
        metaclass = RemoteMetaClass if data.get("meta") or any(isinstance(b, RemoteMetaClass) for b in bases) else RemoteClass
        exception = data.get("exc")
        if exception:
            local = getattr(builtins, str(exception), Exception)
            if not (isinstance(local, type) and issubclass(local, Exception)):
                local = Exception  # never BaseException: learner code cannot stop pytest
            chosen = bases if any(issubclass(b, BaseException) for b in bases) else (RemoteException,)
            if not any(issubclass(b, local) for b in chosen):
                chosen = (*chosen, local)  # e.g. class Empty(ShopError, LookupError)
            for candidate in (chosen, (RemoteException, local), (RemoteException, Exception)):
                try:
                    return metaclass(name, candidate, dict(namespace))
                except TypeError:
                    continue
        namespace["__slots__"] = ()
        for candidate in (bases or (RemoteObject,), (RemoteObject,)):
            try:
                return metaclass(name, candidate, dict(namespace))
            except TypeError:
                continue
        raise BridgeError(f"cannot build a proxy for class {name}")

    def remote_object(self, data: Any) -> Any:
        handle = int(data["h"])
        key = (self.generation, handle)
        known = self.objects.get(key) or self.functions.get(key)
        if known is not None:
            return known
        cls = self.remote_class(data["c"])
        ref = Ref(handle, self.generation)
        if "name" in data:  # a function or builtin of the learner's
            function = RemoteFunction.__new__(RemoteFunction)
            path = tuple(data["path"]) if data.get("path") else None
            for slot, value in (("_grader_ref", ref), ("_grader_path", path), ("__name__", str(data["name"])),
                                ("__qualname__", path[1] if path else str(data["name"])),
                                ("__module__", path[0] if path else "")):
                function.__dict__[slot] = value
            self.functions[key] = function
            return function
        if issubclass(cls, BaseException):
            instance = cls.__new__(cls)
            instance.__dict__["_grader_ref"] = ref
        else:
            instance = object.__new__(cls)
            object.__setattr__(instance, "_grader_ref", ref)
        self.objects[key] = instance
        return instance

    def decode_error(self, error: Any) -> Any:
        """The exception to raise for an error reply."""
        if not isinstance(error, dict) or "cls" not in error:
            return LearnerError(f"the learner's side failed: {str(error)[:500]}")
        try:
            cls = self.remote_class(error["cls"])
            args = tuple(self.codec.decode(error.get("args", [])))
        except (BridgeError, TypeError, ValueError, KeyError):
            return LearnerError(f"the learner's side sent an error the bridge cannot take: {str(error)[:300]}")
        text = str(error.get("str", ""))
        module, qualname = str(cls.__module__), str(cls.__qualname__)
        local = _local_exception(module, qualname) if module.split(".")[0] not in LEARNER_MODULES else None
        if local is not None:
            try:
                exc = local(*args)
            except Exception:
                exc = local.__new__(local)
                exc.args = args
            if isinstance(exc, ImportError) and isinstance(error.get("name"), str):
                exc.name = error["name"]
        elif issubclass(cls, Exception):
            exc = cls.__new__(cls)
            exc.args = args
            exc.__dict__["_grader_str"] = text
            ref = error.get("ref")
            if isinstance(ref, dict) and isinstance(ref.get("h"), int):
                exc.__dict__["_grader_ref"] = Ref(ref["h"], self.generation)
        else:
            exc = LearnerExit(f"the learner's code raised {qualname}: {text}")
        trace = str(error.get("tb", ""))
        if trace:
            exc.__notes__ = ["in the learner's code:\n" + trace.rstrip()]
        exc._grader_from_learner = True
        return exc

    def learner_roots(self) -> Any:
        return LEARNER_MODULES


def message_is_final(body: Any) -> Any:
    try:
        return bool(loads(body).get("final"))
    except BridgeError:
        return False


# -- imports -----------------------------------------------------------------------------------------


class LearnerFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the learner's top-level modules (and their submodules) on the learner's side."""

    def find_spec(self, fullname: Any, path: Any = None, target: Any = None) -> Any:
        if fullname.split(".")[0] not in LEARNER_MODULES:
            return None
        try:
            info = CONNECTION.request({"op": "import", "n": fullname})
        except ModuleNotFoundError as exc:
            if getattr(exc, "name", None) in (fullname, None) or fullname.startswith(str(exc.name) + "."):
                return None
            raise
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=bool(info.get("package")))
        spec.grader_info = info  # type: ignore[attr-defined]
        return spec

    def create_module(self, spec: Any) -> Any:
        module = RemoteModule(spec.name)
        info = spec.grader_info
        if info.get("all") is not None:
            types.ModuleType.__setattr__(module, "__all__", list(info["all"]))
        return module

    def exec_module(self, module: Any) -> Any:
        return None


class BridgePlugin:
    """pytest hooks of the bridge: a fresh learner process per test where the spec asks for it, and the
    audit of the callbacks the learner's code made into the tests' functions."""

    def __init__(self, per_test: Any, notice: Any) -> None:
        self.per_test = per_test
        self.notice = notice
        self.first = True

    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> Any:
        called = CONNECTION.stats["callbacks"]
        if called:
            names = sorted({getattr(f, "__qualname__", type(f).__name__) for f in CONNECTION.called})
            self.notice("learner-callbacks", f"the learner's code called functions of the tests {called} time(s): "
                        + ", ".join(names[:10]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> Any:
        if self.per_test and not self.first:
            CONNECTION.restart(planned=True)
        self.first = False


# Set by install(): the test process has one connection to the learner's side.
CONNECTION: Connection = cast("Connection", None)
LEARNER_MODULES: frozenset[str] = frozenset()


def install(config: Any, read_fd: Any, write_fd: Any, report: Any, notice: Any = lambda code, detail: None) -> Any:
    """Make the learner's modules importable through the bridge; returns the pytest plugin."""
    global CONNECTION, LEARNER_MODULES
    LEARNER_MODULES = frozenset(str(m) for m in config.get("modules", []))
    CONNECTION = Connection(read_fd, write_fd, float(config.get("call_timeout_s", 10)), report)
    sys.meta_path.append(LearnerFinder())
    return BridgePlugin(bool(config.get("per_test")), notice)
