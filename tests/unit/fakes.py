"""Fakes of the pipeline's ports (grader.grading.ports) and of the worker's metrics: the pipeline and the
worker's state machine run against them in milliseconds, with no git, Docker or Redis. The real
adapters are exercised by tests/integration."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.config import Settings
from grader.core.errors import GraderFault
from grader.core.judge import RunFacts
from grader.core.ownership import OwnershipRequirement
from grader.core.run_report import parse_harness_stream
from grader.core.spec import LoadedAssignment
from grader.fetch.repository import Snapshot
from grader.grading.ports import GradingPorts
from grader.sandbox.images import ImageRef
from tests.unit.runs import container_run

TOKEN = "fake-sandbox-token"
COMMIT = "f" * 40


def harness_stream(assignment: LoadedAssignment, outcome_of: Callable[[str], str]) -> bytes:
    """What a clean harness run writes: every counted test id with the outcome `outcome_of` gives it."""
    counted = assignment.manifest or assignment.test_ids
    events: list[dict[str, Any]] = [{"event": "start", "harness": 2}]
    for suite, ids in counted.items():
        events += [{"event": "result", "suite": suite, "id": i, "outcome": outcome_of(i)} for i in ids]
    failed = any(e.get("outcome") not in (None, "passed") for e in events)
    events.append({"event": "finish", "exit_status": 1 if failed else 0})
    events.append({"event": "end", "timed_out": False, "child_finished": True, "child_exit": 1 if failed else 0})
    return b"".join(f"@@grader:{TOKEN}:".encode() + json.dumps(e).encode() + b"\n" for e in events)


@dataclass
class FakeSandbox:
    """Reports every test `passed` unless `failing` names it; raises `faults` in turn first, one per run."""

    failing: set[str] = field(default_factory=set)
    faults: list[GraderFault] = field(default_factory=list)
    runs: int = 0

    def __call__(self, assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings) -> RunFacts:
        self.runs += 1
        if self.faults:
            raise self.faults.pop(0)
        stream = harness_stream(assignment, lambda test: "failed" if test in self.failing else "passed")
        return RunFacts(
            report=parse_harness_stream(stream, TOKEN),
            container=container_run(stream),
            canaries=[],
            commit=commit,
            mode=assignment.spec.mode.value,
        )


@dataclass
class FakeFetcher:
    """A snapshot of an empty tree for any URL, unless `faults` says what to raise first."""

    faults: list[GraderFault] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)

    def __call__(
        self, url: str, ref: str | None, dest: Path, settings: Settings, ownership: OwnershipRequirement | None = None
    ) -> Snapshot:
        self.fetched.append(url)
        if self.faults:
            raise self.faults.pop(0)
        dest.mkdir(parents=True, exist_ok=True)
        return Snapshot(url=url, commit=COMMIT, ref=ref, path=dest, files=0, bytes=0)


def fake_image(assignment: LoadedAssignment, settings: Settings, progress: Callable[[str], None]) -> ImageRef:
    return ImageRef(tag=f"fake/{assignment.spec.id}:test", id="sha256:" + "0" * 64)


def fake_ports(sandbox: FakeSandbox | None = None, fetcher: FakeFetcher | None = None) -> GradingPorts:
    return GradingPorts(fetch=fetcher or FakeFetcher(), build=fake_image, run=sandbox or FakeSandbox())


@dataclass
class RecordedMetrics:
    stages: list[tuple[str, float]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def stage(self, name: str, seconds: float) -> None:
        self.stages.append((name, seconds))

    def outcome(self, name: str) -> None:
        self.outcomes.append(name)
