"""Synthetic harness runs for the judge's unit tests: the container the worker observed around a stream."""

from __future__ import annotations

from typing import Any

from grader.core.run_report import ContainerRun


def container_run(stream: bytes, overrides: dict[str, Any] | None = None) -> ContainerRun:
    """A tester container that ran to its end under runsc and wrote `stream`, unless `overrides` say otherwise."""
    observed: dict[str, Any] = {
        "name": "run",
        "runtime": "runsc",
        "exit_code": 0,
        "timed_out": False,
        "oom_killed": False,
        "output": stream,
        "output_bytes": len(stream),
        "output_truncated": False,
        "duration": 1.0,
    }
    return ContainerRun(**(observed | (overrides or {})))
