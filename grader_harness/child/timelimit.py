"""The per-test time limit (limits.test_timeout_s): a test (setup, call, teardown) running past it fails
alone, "timed out after N s"."""

from __future__ import annotations

import signal
import types
from collections.abc import Generator
from typing import Any

import pytest


class TimeLimitPerTest:
    """limits.test_timeout_s: a test (setup, call, teardown) running past it fails alone, "timed out after N s"."""

    def __init__(self, limit: float):
        self.limit = float(limit)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
        limit = self.limit

        def expired(signum: int, frame: types.FrameType | None) -> None:
            pytest.fail(f"timed out after {limit:g} s", pytrace=False)

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

