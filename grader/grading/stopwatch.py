"""Stage timing and progress: every stage reports start, done or fail (and info lines) to one callback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

StageEvent = Callable[[str, str, str], None]  # (stage, status: start|done|fail|skipped|info, detail)


def no_progress(stage: str, status: str, detail: str) -> None:
    return None


class Stopwatch:
    """Times each stage it wraps and reports its start, end or failure to `on_event`."""

    def __init__(self, on_event: StageEvent) -> None:
        self.timings: dict[str, float] = {}
        self.on_event = on_event

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        self.on_event(name, "start", detail)
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self.timings[name] = round(time.monotonic() - started, 3)
            self.on_event(name, "fail", str(exc))
            raise
        self.timings[name] = round(time.monotonic() - started, 3)
        self.on_event(name, "done", "")
