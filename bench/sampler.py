"""A sampling profiler of every thread of a process, for the API server (the event loop and the
threads that run its synchronous endpoints, which cProfile, bound to one thread, does not see).

    .venv/bin/python -m bench.sampler OUT.json PORT

runs `uvicorn.run(...)` on the API app (imported before the CPU clock starts) with a sampler thread looking at every other thread's stack
every 2 ms. When its stdin is closed the server stops and OUT.json gets, over the samples where a thread was busy
(not waiting in the event loop's selector or an idle pool thread), how often each of the project's
functions was on the stack (inclusive), the share of samples whose innermost frame was in each library,
and the process's CPU seconds.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

IDLE_FILES = ("selectors.py", "threading.py", "queue.py")


def _library(filename: str) -> str:
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/grader/" in filename:
        return "grader (project)"
    if "/credentials/" in filename:
        return "credentials (project)"
    return "python (standard library)"


class Sampler:
    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.busy = 0
        self.inclusive: Counter[str] = Counter()
        self.leaf_library: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        own = threading.get_ident()
        while not self._stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident != own:
                    self._sample(frame)

    def _sample(self, frame: FrameType) -> None:
        leaf = frame.f_code.co_filename
        if leaf.endswith(IDLE_FILES):
            return
        self.busy += 1
        self.leaf_library[_library(leaf)] += 1
        seen: set[str] = set()
        current: FrameType | None = frame
        while current is not None:
            code = current.f_code
            if "/grader/" in code.co_filename:
                name = f"{code.co_filename.split('/grader/', 1)[1]}:{code.co_firstlineno} {code.co_name}"
                if name not in seen:
                    seen.add(name)
                    self.inclusive[name] += 1
            current = current.f_back


def main() -> None:
    out = Path(sys.argv[1])
    port = int(sys.argv[2])
    import uvicorn

    from grader.http.asgi import app

    sampler = Sampler()
    cpu_before = os.times()
    started = time.monotonic()
    sampler.start()
    # The server in a thread of its own (uvicorn then leaves the signals alone), stopped when the
    # benchmark closes this process's stdin.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    serving.start()
    sys.stdin.read()
    server.should_exit = True
    serving.join(timeout=60)
    sampler.stop()
    cpu_after = os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    out.write_text(
        json.dumps(
            {
                "busy_samples": sampler.busy,
                "interval_s": sampler.interval,
                "wall_s": time.monotonic() - started,
                "cpu_s": cpu,
                "inclusive": sampler.inclusive.most_common(40),
                "leaf_library": sampler.leaf_library.most_common(12),
            }
        )
    )


if __name__ == "__main__":
    main()
