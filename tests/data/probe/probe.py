"""A hostile learner module: searches everything its process can reach for the tester's objects."""

import gc
import os
import sys

MARKER = "grader-probe-" + "hidden-marker-7f3a9c"
TESTER_MODULES = ("pytest", "_pytest", "pluggy", "child", "harness", "bridge_client", "grader_tests")
# Of the harness package, the learner's container has only the agent and what it imports.
AGENT_MODULES = ("grader_harness", "grader_harness.protocol", "grader_harness.bridge", "grader_harness.bridge.codec",
                 "grader_harness.bridge.agent")


def _tester_module(name):
    if name.split(".")[0] == "grader_harness":
        return name not in AGENT_MODULES
    return name.split(".")[0] in TESTER_MODULES
TESTER_FILES = ("/grader/tests", "/opt/grader/child.py")


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, (bytes, bytearray)):
        yield bytes(obj).decode("latin-1")
    elif isinstance(obj, dict):
        for key, value in list(obj.items())[:200]:
            if isinstance(key, str):
                yield key
            if isinstance(value, str):
                yield value


def search():
    found = []
    for name in list(sys.modules):
        if _tester_module(name):
            found.append(f"module {name}")
    objects = gc.get_objects()
    for obj in objects:
        module = getattr(type(obj), "__module__", "") or ""
        if module and _tester_module(module):
            found.append(f"object of {module}.{type(obj).__name__}")
        code = getattr(obj, "__code__", None)
        if code is not None and ("/grader/tests" in code.co_filename or "test_" in os.path.basename(code.co_filename)):
            found.append(f"code of {code.co_filename}")
        for text in _strings(obj):
            if MARKER in text and text is not MARKER:
                found.append("the tests' marker in memory")
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_filename.startswith(("/grader/", "/opt/venv/lib/python3.11/site-packages/_pytest")):
                found.append(f"frame of {frame.f_code.co_filename}")
            frame = frame.f_back
    scanned = 0
    for root in ("/grader", "/tmp", "/workspace", "/opt", "/home", "/root", "/run", "/var/tmp", "/dev/shm"):
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                scanned += 1
                if name.startswith("test_") and name.endswith(".py"):
                    found.append(f"test file {path}")
                try:
                    with open(path, "rb") as handle:
                        if MARKER.encode() in handle.read(1 << 20):
                            found.append(f"marker in {path}")
                except OSError:
                    pass
    for path in TESTER_FILES:
        if os.path.exists(path) and path != "/opt/grader/child.py":
            found.append(f"path {path}")
    processes = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        processes += 1
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            continue
        if "pytest" in command or "harness" in command or "child.py" in command:
            found.append(f"process {pid}: {command[:80]}")
    for key, value in os.environ.items():
        if key.startswith("GRADER") or MARKER in value:
            found.append(f"environment {key}")
    return {"scanned_objects": len(objects), "scanned_files": scanned, "processes": processes,
            "found": sorted(set(found))[:50]}
